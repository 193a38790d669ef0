/** The id of a dead letter in a path, a body or a cursor. */

import * as z from "zod/mini";

/** A note id, or `msg-<queue message id>` for a body that had none (see `DeadLetter.id`). */
export const deadLetterId = z
  .string()
  .check(
    z.regex(
      /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|msg-[\w-]{1,128})$/,
      "not a dead-letter id (a lowercase note UUID or msg-<queue message id>)",
    ),
  );
