/**
 * The contract between the ingest and deliver Workers. Ingest produces {@link NoteMessage}s and
 * {@link CodeMessage}s and reads {@link StatusRecord}s; deliver consumes the messages and writes the records.
 */

/**
 * Frames up to this size go on the `notes` queue, larger ones on `notes-large`. Each queue's
 * largest batch then fits deliver's byte budget of one invocation (BATCH_FRAME_BUDGET_BYTES,
 * 512 KiB, what the Free plan's 10 ms of CPU allows): `notes` hands over 100 frames of at most
 * 5,120 bytes (512,000), `notes-large` 8 of at most 65,536 (524,288). So no legal batch has notes
 * to put back on the queue, which cost deliver as much CPU as sending them and 3 queue operations
 * each. Small notes, the common case, keep their 100 emails per provider request.
 */
export const SMALL_FRAME_MAX_BYTES = 5_120;

/** The queue a note of `frameBytes` goes on: see {@link SMALL_FRAME_MAX_BYTES}. */
export function notesQueueFor<Q>(queues: { NOTES_QUEUE: Q; NOTES_LARGE_QUEUE: Q }, frameBytes: number): Q {
  return frameBytes > SMALL_FRAME_MAX_BYTES ? queues.NOTES_LARGE_QUEUE : queues.NOTES_QUEUE;
}

/** The body of a message on the `notes` and `notes-large` queues (and on `notes-dlq`). */
export interface NoteMessage {
  /** The frame exactly as the client posted it: ingest never re-encodes. */
  frame: Uint8Array;
  /** When ingest answered 202, in ms since the epoch. */
  acceptedAt: number;
  /** Set by an ops replay: when the note was put back on the queue. */
  replayedAt?: number;
}

/**
 * An enrollment code to email (ingest's POST /v1/tokens/code), on the same `notes` queue as notes:
 * one consumer, one provider account, one pacing. Told apart by `kind`, which a {@link NoteMessage}
 * never has, so messages queued before this kind existed still read as notes. It carries no note
 * and touches no status record.
 */
export interface CodeMessage {
  kind: "code";
  /** Lowercased; it passed the frame's recipient rule, so it is safe between JSON quotes. */
  to: string;
  /** Eight characters of Crockford's base32, upper case (ingest's enrollment guard issues it). */
  code: string;
  /** When ingest stops accepting the code, in ms since the epoch: an email unsent by then is dropped. */
  expiresAt: number;
}

/** What the `notes` queue carries. */
export type NotesQueueMessage = NoteMessage | CodeMessage;

/** Whether a queue body is a {@link CodeMessage}; anything else is read as a note. */
export function isCodeMessage(body: unknown): body is CodeMessage {
  return typeof body === "object" && body !== null && (body as { kind?: unknown }).kind === "code";
}

export const NOTE_STATES = [
  "queued",
  "retrying",
  "sent",
  "delivered",
  "bounced",
  "complained",
  "failed",
  "dead",
] as const;
export type NoteState = (typeof NOTE_STATES)[number];

/** States after which deliver must never send the note again. */
export const SENT_STATES: ReadonlySet<NoteState> = new Set(["sent", "delivered", "bounced", "complained"]);

/**
 * One note's status in the `STATUS` KV namespace under {@link statusKey}. It carries no address
 * and no content: the note id's 128 random bits are the only key to it.
 */
export interface StatusRecord {
  id: string;
  state: NoteState;
  /** Send attempts made so far. */
  attempts: number;
  /** ISO 8601 time of this write. */
  updatedAt: string;
  /** For `retrying`, `failed`, `dead`, `bounced`: why, in one sentence. */
  error?: string;
  /** For `retrying`: ISO 8601 time of the next attempt. */
  nextAttemptAt?: string;
  /** For `sent` and later: the mail provider's message id. */
  providerId?: string;
  /** For `retrying`, `failed`, `dead`: {@link error} as a machine code (what ops counts and filters on). */
  errorCode?: DeliveryErrorCode;
  /** For `retrying`, `failed`, `dead`: ISO 8601 time of the first failed attempt of this delivery. */
  firstFailureAt?: string;
}

/**
 * Why deliver retries or gave up on a note: a record's `errorCode` and a dead letter's `reason`.
 * What each means and what deliver does about it: workers/deliver/README.md, "Outcomes".
 */
export const DELIVERY_ERROR_CODES = [
  // transient: retried with backoff
  "timeout",
  "network_error",
  "provider_unavailable",
  "rate_limited",
  "request_in_progress",
  // pipeline-level: no note at fault; the whole batch waits for an operator or a quota reset
  "auth_failed",
  "sender_not_verified",
  "quota_exceeded",
  "request_invalid",
  "config_invalid",
  "unexpected_response",
  // permanent for the note: dead-lettered at once
  "undecodable",
  "rejected",
  "inactive_recipient",
  "possibly_sent",
  // the dead-letter queue's own: retries ran out with no recorded cause
  "retries_exhausted",
  // ops: an operator discarded the note's dead letter (DELETE /ops/dead-letters/:id)
  "discarded",
] as const;
export type DeliveryErrorCode = (typeof DELIVERY_ERROR_CODES)[number];

/**
 * The KV metadata of every status record: its state, which a key listing shows without reading a
 * value, and `event`, the id of the provider webhook event that wrote the record if one did.
 */
export interface StatusMetadata {
  state: NoteState;
  event?: string;
}

/** 30 days: long enough for a client that opens rarely, short enough to bound what KV holds. */
export const STATUS_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * @example
 * await env.STATUS.get(statusKey(id), "json");
 */
export function statusKey(id: string): string {
  return `note:${id}`;
}

export {
  DEAD_LETTER_TTL_SECONDS,
  type DeadLetter,
  type DeadLetterView,
} from "./dead-letter.ts";
export {
  type AcceptedNote,
  type CodeSent,
  type EnrolledToken,
  type ErrorBody,
  type ErrorTable,
  INGEST_ERRORS,
  type IngestErrorCode,
  MAX_STATUS_IDS,
  type NoteStatus,
  type NoteStatusList,
  type NoteStatusQuery,
  TOKEN_ADDRESS_HEADER,
} from "./ingest-api.ts";
export type {
  DeadLetterListing,
  DeadLetterQuery,
  DiscardAnswer,
  LedgerUsage,
  OpsStats,
  ReplayAnswer,
  ReplayRequest,
  ReplayResult,
  ReplaySkip,
} from "./ops-api.ts";
export { DELIVER_ERRORS, type DeliverErrorCode } from "./ops-api.ts";
export {
  KV_VISIBILITY_SECONDS,
  NOT_BEFORE_CACHE_SECONDS,
  notBeforeAt,
  notBeforeKey,
  REVOCATION_DELAY_SECONDS,
  type RevokeTokensRequest,
  readNotBefore,
  type TokensRevoked,
} from "./token-revocation.ts";
