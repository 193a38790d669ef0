/**
 * GET /ops/dead-letters?limit=&cursor=&reason=&since=: the dead letters the ledger holds, a page at
 * a time in id order. Each entry says what failed, when and how often, and to whom in masked form
 * (`j***@example.com`, read from the stored frame); never the frame, the nonce or the ciphertext.
 *
 * A page holds at most 200 entries whatever `limit` asks (`DEAD_LETTERS_PER_CALL`): a caller
 * follows `cursor`, the last id of the page, until it is null.
 */

import { decodeFrame } from "@notepipe/frame";
import {
  DELIVERY_ERROR_CODES,
  type DeadLetter,
  type DeadLetterListing,
  type DeadLetterQuery,
  type DeadLetterView,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { parseWith } from "../http/body.ts";
import { NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";
import { deadLetterId } from "./dead-letter-id.ts";
import { listDeadLetters as listFromLedger } from "./dead-letters.ts";

/** What `limit` may ask, as it always could; the page itself is capped lower. */
const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

const listQuery = z.strictObject({
  limit: z._default(
    z.coerce.number().check(z.multipleOf(1), z.minimum(1), z.maximum(MAX_PAGE_SIZE)),
    DEFAULT_PAGE_SIZE,
  ),
  cursor: z.optional(deadLetterId),
  reason: z.optional(z.enum(DELIVERY_ERROR_CODES)),
  since: z.optional(z.iso.datetime({ offset: true })),
});

/**
 * The first character of the local part, then `***`: enough for an operator to tell two readers
 * apart in a listing, not enough to write to one.
 *
 * @example
 * maskRecipient("jane.doe@example.com"); // "j***@example.com"
 */
export function maskRecipient(address: string): string {
  const at = address.lastIndexOf("@");
  return `${address.slice(0, Math.min(1, at))}***${address.slice(at)}`;
}

/** The masked recipient of a stored frame (standard base64), or null if it holds none. */
function recipientOf(frameBase64: string): string | null {
  if (frameBase64 === "") return null;
  try {
    const decoded = decodeFrame(Uint8Array.fromBase64(frameBase64));
    return decoded.ok ? maskRecipient(decoded.frame.recipient) : null;
  } catch {
    return null; // not base64: a damaged entry still lists
  }
}

/** A dead letter as ops sees it: its recipient masked, never its frame. */
export function deadLetterView(letter: DeadLetter): DeadLetterView {
  const view: DeadLetterView = {
    id: letter.id,
    reason: letter.reason,
    message: letter.message,
    attempts: letter.attempts,
    firstFailureAt: letter.firstFailureAt,
    lastFailureAt: letter.lastFailureAt,
    possiblySent: letter.possiblySent,
    recipient: recipientOf(letter.frame),
    acceptedAt: letter.acceptedAt === null ? null : new Date(letter.acceptedAt).toISOString(),
  };
  if (letter.replayedAt !== undefined) view.replayedAt = new Date(letter.replayedAt).toISOString();
  return view;
}

export async function listDeadLetters(c: Context<OpsEnv>): Promise<Response> {
  const query: DeadLetterQuery = parseWith(listQuery, c.req.query(), "query");
  const filter = { reason: query.reason, since: query.since === undefined ? undefined : Date.parse(query.since) };
  const page = await listFromLedger(c.env, filter, query.cursor ?? null, query.limit);
  const listing: DeadLetterListing = { deadLetters: page.deadLetters.map(deadLetterView), cursor: page.cursor };
  return c.json(listing, 200, NO_STORE);
}
