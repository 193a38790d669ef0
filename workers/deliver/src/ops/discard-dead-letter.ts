/**
 * DELETE /ops/dead-letters/:id: an operator gives up on one note. Its state becomes (or stays)
 * `failed` with the reason `discarded`, the sentence keeping why it had failed, and then its entry
 * is deleted. A note that was sent meanwhile keeps its state (never backwards); a note back in the
 * queue cannot be discarded any more (409): deliver would send it anyway.
 */

import { isNoteUuid } from "@notepipe/frame";
import { type DeadLetter, deadLetterKey, SENT_STATES, type StatusRecord, statusKey } from "@notepipe/pipeline";
import type { Context } from "hono";
import { parseWith } from "../http/body.ts";
import { HttpError, NO_STORE } from "../http/errors.ts";
import { DELIVERY_ERRORS } from "../outcomes.ts";
import { putRecord } from "../status-store.ts";
import type { OpsEnv } from "./app.ts";
import { deadLetterId } from "./replay-dead-letters.ts";

const KV_WRITE_INTERVAL_MS = 1000;

export async function discardDeadLetter(c: Context<OpsEnv>): Promise<Response> {
  const id = parseWith(deadLetterId, c.req.param("id"), "id");
  const kv = c.env.STATUS;
  const [letter, record] = await Promise.all([
    kv.get<DeadLetter>(deadLetterKey(id), "json"),
    isNoteUuid(id) ? kv.get<StatusRecord>(statusKey(id), "json") : null,
  ]);
  if (letter === null) throw new HttpError("dead_letter_not_found");

  if (record !== null && SENT_STATES.has(record.state)) {
    await kv.delete(deadLetterKey(id));
    return c.json({ id, discarded: true, state: record.state }, 200, NO_STORE);
  }
  if (record?.state === "queued" || record?.state === "retrying") {
    throw new HttpError("note_in_queue");
  }

  if (isNoteUuid(id)) {
    const age = Date.now() - (Date.parse(record?.updatedAt ?? "") || 0);
    if (age < KV_WRITE_INTERVAL_MS) await scheduler.wait(KV_WRITE_INTERVAL_MS - age);
    const written = await putRecord(kv, {
      id,
      state: "failed",
      attempts: record?.attempts ?? letter.attempts,
      updatedAt: new Date().toISOString(),
      error: `${DELIVERY_ERRORS.discarded.sentence} It had failed: ${letter.message}`,
      errorCode: "discarded",
      firstFailureAt: letter.firstFailureAt,
    });
    // The entry stays until the record says why it is gone.
    if (!written) throw new HttpError("retry_later", { headers: { "retry-after": "1" } });
  }
  await kv.delete(deadLetterKey(id));
  return c.json({ id, discarded: true, state: "failed" }, 200, NO_STORE);
}
