/**
 * What `send` and `resumeOnOpen` need to reach ingest: one plain object an app builds once and
 * passes to both. The outbox's config (outbox/outbox.ts) extends it.
 */

import type { EnrolledToken, NoteState } from "@notepipe/pipeline";
import type { PendingStore } from "./pending.ts";

/**
 * A note's state as the client sees it: the server's states, plus `pending` (ingest answered 202,
 * deliver has written no status yet: the API says `unknown`) and `expired` (still `unknown` after
 * the 30 days a status record lives: nothing more will ever be known).
 */
export type ClientNoteState = NoteState | "pending" | "expired";

/**
 * When `resumeOnOpen` stops following a note. `sent` is not in it: the mail provider has taken the
 * note, and its delivery webhooks will still move it to `delivered`, `bounced` or `complained`.
 * A deployment without webhooks should add `sent`, or its notes are polled until they expire.
 * `dead` is final for the app although an operator may replay a dead letter later.
 */
export const DEFAULT_FINAL_STATES: readonly ClientNoteState[] = [
  "delivered",
  "bounced",
  "complained",
  "failed",
  "dead",
];

export interface RetryOptions {
  /** Attempts in all, the first one included. Default 5. */
  attempts?: number;
  /** The first backoff; it doubles per attempt, with full jitter. Default 500 ms. */
  baseDelayMs?: number;
  /**
   * The longest wait between two attempts. A `Retry-After` beyond it ends the call with a
   * retryable error instead of waiting. Default 60,000 ms.
   */
  maxDelayMs?: number;
  /** How long one attempt may go unanswered before it counts as a network error. Default 15,000 ms. */
  timeoutMs?: number;
}

export interface ClientConfig extends IngestConnection {
  /** Where `send` records accepted notes and `resumeOnOpen` finds them. */
  store?: PendingStore;
  /** Default: {@link DEFAULT_FINAL_STATES}. */
  finalStates?: readonly ClientNoteState[];
}

/** How to reach ingest: what every request needs, for `send`, `resumeOnOpen` and the outbox alike. */
export interface IngestConnection {
  /** The ingest Worker's origin, e.g. `"https://notes.example.com"`; `""` for the page's own origin. */
  endpoint: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  retry?: RetryOptions;
  /** How to wait between attempts. Default: `setTimeout`. Tests pass one that records and returns. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * A client token of this app's and the address it was issued for (what `POST /v1/tokens`
   * answers), sent with every status poll (`Authorization`, `Notepipe-To`): ingest then counts the
   * app's polls against the token's own allowance, not against everyone behind its network address
   * (a carrier NAT, an office). Without one, or with a token ingest no longer accepts, polls count by
   * address. Status answers carry no address and no content either way.
   */
  pollAs?: EnrolledToken;
}
