/**
 * What the ops API (workers/deliver/src/ops) answers and `pnpm ops` (packages/ops-cli) reads: the
 * shapes are written once, here, so that the two cannot drift apart.
 */

import type { DeadLetterView } from "./dead-letter.ts";
import type { DeliveryErrorCode, NoteState } from "./index.ts";
import type { ErrorTable } from "./ingest-api.ts";

/** `GET /ops/dead-letters`' query: a page of at most `limit` entries after `cursor`, filtered. */
export interface DeadLetterQuery {
  limit: number;
  cursor?: string | undefined;
  reason?: DeliveryErrorCode | undefined;
  /** ISO 8601: entries whose last failure is at or after it. */
  since?: string | undefined;
}

/** `GET /ops/dead-letters`: one page, in id order. */
export interface DeadLetterListing {
  deadLetters: DeadLetterView[];
  /** The `cursor` of the next page, or null at the end. */
  cursor: string | null;
}

/**
 * Why a replay left an entry where it was:
 * - `not_found`: no dead letter has this id (replayed or discarded already, or never one);
 * - `already_sent`: the note went out (or was delivered) after all: it is never sent again;
 * - `already_queued`: the note is back in the queue;
 * - `undecodable`: its frame does not decode, so a replay could only fail again;
 * - `possibly_sent`: the provider may already have sent it; replayed only when asked
 *   (`includePossiblySent`), as the reader may then get the email twice.
 */
export type ReplaySkip = "not_found" | "already_sent" | "already_queued" | "undecodable" | "possibly_sent";

export type ReplayResult =
  | { id: string; outcome: "replayed" }
  | { id: string; outcome: "skipped"; reason: ReplaySkip }
  | { id: string; outcome: "failed"; reason: "queue_unavailable" };

/**
 * The body of `POST /ops/dead-letters/replay`: exactly one of `ids`, `all`, or `since`/`reason`
 * (then `cursor` goes on from the previous answer's).
 */
export interface ReplayRequest {
  ids?: string[];
  all?: true;
  since?: string;
  reason?: DeliveryErrorCode;
  cursor?: string;
  /** Replay the entries the provider may already have sent too (their readers may get two emails). */
  includePossiblySent?: boolean;
}

/** `POST /ops/dead-letters/replay`. */
export interface ReplayAnswer {
  replayed: number;
  skipped: number;
  failed: number;
  /** Of `skipped`, how many were left out as possibly sent. */
  skippedPossiblySent: number;
  /** One per id handled, in the order asked (for `ids`) or in id order. */
  results: ReplayResult[];
  /** `ids` only: the ids this request did not get to; send them again. */
  remaining?: string[];
  /** `all` or `since`/`reason` only: where the next request goes on, or null at the end. */
  cursor?: string | null;
}

/** `DELETE /ops/dead-letters/:id`. */
export interface DiscardAnswer {
  id: string;
  discarded: true;
  state: NoteState;
}

/** `GET /ops/stats`: exact counts from the delivery ledger. */
export interface OpsStats {
  /** Notes the ledger knows, by state. */
  states: Partial<Record<NoteState, number>>;
  records: number;
  deadLetters: { total: number; byReason: Record<string, number>; possiblySent: number };
  /** Status records KV does not hold yet (it refused the write); the Cron repair writes them. */
  behind: number;
  /** Requests whose answer never came, waiting to be sent again under the same key. */
  unanswered: number;
  /** Each mail provider's circuit (failover), once deliver routed a batch through it. */
  circuits?: CircuitStat[];
  /** Always true: the ledger counts everything. Kept for callers of the older, bounded count. */
  complete: true;
  /** What the ledger was billed for since it started, and the KV writes it learned of. */
  usage: LedgerUsage;
}

/**
 * One provider's circuit: `closed` takes batches; `open` (after a pipeline-level failure, or
 * several transient ones in a row) sends new batches to the next listed provider until `probeAt`;
 * `half_open` while one batch probes it. `routed`: new batches go to it now; `switches`: how often
 * they switched to it.
 */
export interface CircuitStat {
  provider: string;
  state: "closed" | "open" | "half_open";
  routed: boolean;
  switches: number;
  /** The failure code that opened it. */
  reason?: string;
  /** ISO 8601, while not closed. */
  openedAt?: string;
  /** ISO 8601: open, when one batch may probe it; half-open, when the probe under way may be taken again. */
  probeAt?: string;
}

/**
 * The delivery ledger's own count of what the platform bills, since the object started. It lives
 * in memory: an eviction or a deploy zeroes it, so compare two readings of one run. The ledger
 * counts only while the deliver Worker's `LEDGER_METERING` is "on" (the capacity bench sets it);
 * otherwise every count is 0.
 */
export interface LedgerUsage {
  /** ISO 8601 time the object started counting. */
  since: string;
  /** Durable Object requests (RPC calls), by method. */
  requests: Record<string, number>;
  /** SQLite rows read and written, as the storage API counts them (what is billed). */
  rowsRead: number;
  rowsWritten: number;
  /** Status records KV took, as the writers reported them: a KV write each. */
  kvWrites: number;
  /** Notes handed to `claim`: each one a queue delivery (a read) of its message. */
  claimedNotes: number;
}

/**
 * Every `{"error": code, "message": sentence}` the deliver Worker's HTTP side answers (the ops API
 * and the provider webhooks), with its status and default sentence. A new code is one line here.
 */
export const DELIVER_ERRORS = {
  bad_request: [400, "The request is not what this route accepts."],
  unauthorized: [401, "Send Authorization: Bearer <ops token>."],
  bad_signature: [401, "The webhook signature does not verify."],
  stale_timestamp: [401, "The webhook timestamp is more than 5 minutes away from now."],
  csrf_refused: [403, "This form did not come from the ops console's own page; reload the page and try again."],
  not_found: [404, "No route matches this path."],
  dead_letter_not_found: [404, "No dead letter has this id."],
  method_not_allowed: [405, "This method is not allowed here."],
  note_in_queue: [409, "The note is back in the queue (replayed or retrying); it can no longer be discarded."],
  body_too_large: [413, "The body is too large."],
  unsupported_media_type: [415, "Send the body as application/json."],
  internal_error: [500, "Something went wrong on our side."],
  not_configured: [503, "This route's secret is not set on the deliver Worker."],
  retry_later: [503, "Not now; retry after the Retry-After seconds."],
} as const satisfies ErrorTable;

export type DeliverErrorCode = keyof typeof DELIVER_ERRORS;
