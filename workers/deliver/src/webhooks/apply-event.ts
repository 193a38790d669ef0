/**
 * What a provider's delivery event does to a note's status record, under the KV rules of
 * workers/deliver/README.md ("KV writes"):
 *
 * - **Forward only.** sent < delivered < bounced = complained; an event that would not move the
 *   note forward changes nothing (a late `delivered` after `bounced`, a second complaint). A note
 *   deliver gave up on (`failed`, `dead`: possibly sent) may still be moved forward: the provider
 *   says it went out.
 * - **Not before `sent`.** With no record yet, or `queued`/`retrying`, deliver may be about to
 *   write `sent`, which would then land on top of `delivered`: the event is answered 503 and the
 *   provider retries it later (Svix: after 5 s, 5 min, 30 min, …).
 * - **One write per event, never two to a key within a second.** A record written under a second
 *   ago (the `sent` write of a fast provider) gets 503 with `Retry-After: 1` rather than a write KV
 *   may refuse; the event is retried, not lost.
 * - **Each event once.** The record's KV metadata keeps the id of the event that wrote it, so the
 *   provider's retry of an event already applied (it missed our 200) is recognised. The id goes in
 *   the one write the event makes anyway, not in a marker key of its own, which would double the
 *   writes per event (the Free plan allows 1,000 a day); an older event repeated later cannot move
 *   the note backwards either, by the first rule. A marker written when an event arrives would also
 *   be wrong here: an event answered 503 must be accepted when it comes again.
 */

import { type NoteState, type StatusMetadata, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { HttpError } from "../http/errors.ts";
import { providerDetail } from "../outcomes.ts";
import { putRecord } from "../status-store.ts";

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

/** How far along a note is; a webhook only ever raises it. `failed`/`dead` may still go out. */
const RANK: Partial<Record<NoteState, number>> = {
  failed: 0,
  dead: 0,
  sent: 1,
  delivered: 2,
  bounced: 3,
  complained: 3,
};

export const COMPLAINED_SENTENCE = "The recipient marked the email as spam.";

/** A bounce's sentence for the record: ours, then the provider's words with addresses masked. */
export function bouncedSentence(said: unknown): string {
  const detail = providerDetail(said);
  const sentence = "The recipient's mail server refused the email.";
  return detail === undefined ? sentence : `${sentence} The provider said: ${detail}`;
}

const KV_WRITE_INTERVAL_MS = 1000;
/** What a 503 asks for when the record is not yet `sent`: a provider usually needs longer. */
const NOT_SENT_RETRY_AFTER_SECONDS = "5";

/**
 * @example
 * await applyDeliveryEvent(env.STATUS, { noteId, state: "delivered", eventId: svixId }, Date.now());
 */
export async function applyDeliveryEvent(kv: KVNamespace, event: DeliveryEvent, now: number): Promise<ApplyOutcome> {
  const { value: record, metadata } = await kv.getWithMetadata<StatusRecord, StatusMetadata>(
    statusKey(event.noteId),
    "json",
  );
  const rank = record === null ? undefined : RANK[record.state];
  if (record === null || rank === undefined) {
    throw new HttpError("retry_later", {
      message: "The note is not recorded as sent yet; retry later.",
      headers: { "retry-after": NOT_SENT_RETRY_AFTER_SECONDS },
    });
  }
  if (metadata?.event === event.eventId) return "duplicate";
  if ((RANK[event.state] as number) <= rank) return "not_newer";
  if (now - Date.parse(record.updatedAt) < KV_WRITE_INTERVAL_MS) {
    throw new HttpError("retry_later", {
      message: "The note's status was written under a second ago; retry in a second.",
      headers: { "retry-after": "1" },
    });
  }

  const next: StatusRecord = {
    id: event.noteId,
    state: event.state,
    attempts: record.attempts,
    updatedAt: new Date(now).toISOString(),
  };
  if (record.providerId !== undefined) next.providerId = record.providerId;
  if (event.error !== undefined) next.error = event.error;
  if (!(await putRecord(kv, next, event.eventId))) {
    throw new HttpError("retry_later", {
      message: "The status could not be written; retry later.",
      headers: { "retry-after": "5" },
    });
  }
  return "applied";
}
