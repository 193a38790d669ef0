/**
 * GET /ops/dead-letters?limit=&cursor=&reason=&since=: the dead-letter store, a page at a time.
 * Each entry says what failed, when and how often, and to whom in masked form (`j***@example.com`,
 * read from the stored frame); never the frame, the nonce or the ciphertext.
 */

import { decodeFrame } from "@notepipe/frame";
import { DELIVERY_ERROR_CODES, type DeadLetter, type DeadLetterView } from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { parseWith } from "../http/body.ts";
import { NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";
import { deadLetterPage, readDeadLetters } from "./dead-letter-pages.ts";

/** A KV list call returns at most 1,000 keys; a page's values are read 100 per bulk get. */
export const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 100;

const listQuery = z.strictObject({
  limit: z._default(
    z.coerce.number().check(z.multipleOf(1), z.minimum(1), z.maximum(MAX_PAGE_SIZE)),
    DEFAULT_PAGE_SIZE,
  ),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
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
export function recipientOf(frameBase64: string): string | null {
  if (frameBase64 === "") return null;
  try {
    const decoded = decodeFrame(Uint8Array.fromBase64(frameBase64));
    return decoded.ok ? maskRecipient(decoded.frame.recipient) : null;
  } catch {
    return null; // not base64: a damaged entry still lists
  }
}

export function viewOf(letter: DeadLetter): DeadLetterView {
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
  const query = parseWith(listQuery, c.req.query(), "query");
  const page = await deadLetterPage(c.env.STATUS, {
    limit: query.limit,
    cursor: query.cursor ?? null,
    filter: { reason: query.reason, since: query.since === undefined ? undefined : Date.parse(query.since) },
  });
  const letters = await readDeadLetters(c.env.STATUS, page.ids);
  const deadLetters = page.ids.flatMap((id) => {
    const letter = letters.get(id);
    return letter === undefined ? [] : [viewOf(letter)];
  });
  return c.json({ deadLetters, cursor: page.cursor }, 200, NO_STORE);
}
