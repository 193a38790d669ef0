/**
 * The contract between the ingest and deliver Workers. Ingest produces {@link NoteMessage}s and
 * reads {@link StatusRecord}s; deliver consumes the one and writes the other.
 */

/** The body of a message on the `notes` queue (and on `notes-dlq`). */
export interface NoteMessage {
  /** The frame exactly as the client posted it: ingest never re-encodes. */
  frame: Uint8Array;
  /** When ingest answered 202, in ms since the epoch. */
  acceptedAt: number;
  /** Set by an ops replay: when the note was put back on the queue. */
  replayedAt?: number;
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
