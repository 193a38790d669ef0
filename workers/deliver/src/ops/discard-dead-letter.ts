/**
 * DELETE /ops/dead-letters/:id: an operator gives up on one note. Its state becomes `failed` with
 * the reason `discarded`, the sentence keeping why it had failed, and its dead letter is gone; the
 * ledger never sends it. A note back in the queue (replayed, or held by a request that may still go
 * out) cannot be discarded any more (409): deliver would send it anyway.
 */

import type { DiscardAnswer } from "@notepipe/pipeline";
import type { Context } from "hono";
import { parseWith } from "../http/body.ts";
import { HttpError, NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";
import { deadLetterId } from "./dead-letter-id.ts";
import { discardDeadLetter as discardInLedger } from "./dead-letters.ts";

export async function discardDeadLetter(c: Context<OpsEnv>): Promise<Response> {
  const id = parseWith(deadLetterId, c.req.param("id"), "id");
  const result = await discardInLedger(c.env, id);
  if (result.kind === "not_found") throw new HttpError("dead_letter_not_found");
  if (result.kind === "in_queue") throw new HttpError("note_in_queue");
  const answer: DiscardAnswer = { id, discarded: true, state: result.record?.state ?? "failed" };
  return c.json(answer, 200, NO_STORE);
}
