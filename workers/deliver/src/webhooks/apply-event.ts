/**
 * What a provider's delivery event does to a note, decided by the delivery ledger:
 *
 * - **Forward only.** sent < delivered < bounced = complained; an event that would not move the
 *   note forward changes nothing (a late `delivered` after `bounced`, a second complaint). A note
 *   deliver gave up on (`failed`, `dead`: possibly sent) or whose request is still unanswered moves
 *   forward too: the provider says it went out, so no replay or resend will send it again.
 * - **Each event once.** The ledger keeps the id of the event that moved the note, so the
 *   provider's retry of an event already applied (it missed our 200) is recognised.
 * - **Unknown notes wait.** A note the ledger has never seen is answered 503; the provider
 *   retries (Svix: after 5 s, 5 min, 30 min, …).
 *
 * KV's record follows the ledger: written after the ledger moved, and if KV refuses it, the ledger
 * keeps it behind and the repair writes it (src/status/repair.ts). The event is answered 200 either way.
 */

import type { NoteState } from "@notepipe/pipeline";
import { HttpError } from "../http/errors.ts";
import { callLedger } from "../ledger/client.ts";
import type { EventOutcome } from "../ledger/types.ts";
import { providerDetail } from "../queue/outcomes.ts";
import { projectToKv } from "../status/projection.ts";

export type DeliveryState = Extract<NoteState, "delivered" | "bounced" | "complained">;

export interface DeliveryEvent {
  noteId: string;
  state: DeliveryState;
  /** The provider's id of this event (Resend: the `svix-id`). */
  eventId: string;
  /** For `bounced` and `complained`: one sentence, addresses masked. */
  error?: string;
}

export type ApplyOutcome = "applied" | "duplicate" | "not_newer";

export const COMPLAINED_SENTENCE = "The recipient marked the email as spam.";

/** A bounce's sentence for the record: ours, then the provider's words with addresses masked. */
export function bouncedSentence(said: unknown): string {
  const detail = providerDetail(said);
  const sentence = "The recipient's mail server refused the email.";
  return detail === undefined ? sentence : `${sentence} The provider said: ${detail}`;
}

const WHO = "deliver (webhooks)";

/** What a 503 asks for when the ledger does not know the note: a provider usually needs longer. */
const UNKNOWN_RETRY_AFTER_SECONDS = "5";

/**
 * @example
 * await applyDeliveryEvent(env, { noteId, state: "delivered", eventId: svixId });
 */
export async function applyDeliveryEvent(env: Env, event: DeliveryEvent): Promise<ApplyOutcome> {
  let outcome: EventOutcome;
  try {
    outcome = await callLedger(env, async (ledger): Promise<EventOutcome> => await ledger.applyEvent(event));
  } catch {
    throw new HttpError("retry_later", {
      message: "The delivery ledger cannot be reached; retry later.",
      headers: { "retry-after": UNKNOWN_RETRY_AFTER_SECONDS },
    });
  }
  if (outcome.kind === "unknown") {
    throw new HttpError("retry_later", {
      message: "The note is not known yet; retry later.",
      headers: { "retry-after": UNKNOWN_RETRY_AFTER_SECONDS },
    });
  }
  if (outcome.kind !== "applied") return outcome.kind;
  await projectToKv(env, [{ record: outcome.record, version: outcome.version }], WHO, event.eventId);
  return "applied";
}
