/**
 * What the deliver Worker and its delivery ledger (ledger.ts) say to each other. Every call carries
 * whole batches: a batch of 100 notes costs a claim and a settle, not a call per note.
 */

import type {
  DeadLetter,
  DeliveryErrorCode,
  LedgerUsage,
  OpsStats,
  ReplaySkip,
  StatusRecord,
} from "@notepipe/pipeline";
import type { CircuitSettings } from "../config.ts";

/** One provider's circuit in `GET /ops/stats` (packages/pipeline, ops-api.ts). */
export type CircuitStat = NonNullable<OpsStats["circuits"]>[number];

/** A listed provider, as the claim needs it: its name, how long it keeps a key, its sender. */
export interface ProviderChoice {
  name: string;
  /** How long the provider keeps a key (Resend: 24 h, less a margin); 0 for a provider without keys. */
  keyWindowMs: number;
  /** Its sender, JSON-encoded: a new request to it is built with this one. */
  fromJson: string;
}

/** The listed providers in order, and when their circuits open (circuits.ts). */
export interface Failover {
  providers: ProviderChoice[];
  circuit: CircuitSettings;
}

/** One note of a batch, as the consumer hands it to {@link DeliveryLedgerApi.claim}. */
export interface ClaimNote {
  id: string;
  frame: Uint8Array;
  acceptedAt: number | null;
  replayedAt?: number;
  /** The queue message's delivery count. */
  attempts: number;
}

/** A message whose body holds no valid frame: filed as a dead letter in the same call. */
export interface UndecodableNote {
  /** The note id, or `msg-<queue message id>`. */
  id: string;
  isNoteId: boolean;
  frame: Uint8Array | null;
  acceptedAt: number | null;
  replayedAt?: number;
  attempts: number;
  problem: string;
}

export interface ClaimInput {
  /** This invocation's own id: the holder of every lease it takes. */
  holder: string;
  /** The Idempotency-Key for the batch's new notes, if any. */
  newKey: string;
  /** The configured sender and subject, JSON-encoded: a request keeps the ones it was first built with. */
  fromJson: string;
  subjectJson: string;
  /**
   * How long one request may take, pacing wait included: the invocation holds each request it is
   * handed for this long per request, after which another invocation may send it again.
   */
  leaseMs: number;
  /** How long the provider keeps a key (Resend: 24 h, less a margin); 0 for a provider without keys. */
  keyWindowMs: number;
  /**
   * The listed providers: each new request goes to the first whose circuit is closed, and is kept
   * with its name. Without it, requests name no provider and `fromJson`/`keyWindowMs` apply.
   */
  failover?: Failover;
  notes: ClaimNote[];
  undecodable: UndecodableNote[];
}

/** What to do with one note of the batch. */
export type ClaimDecision =
  /** Part of the request under `key`: send it, then settle. */
  | {
      kind: "send";
      key: string;
      /** The code of the failure the note is retrying after, if it is. */
      retrying?: DeliveryErrorCode;
      /** ISO 8601: when the note's troubles began, if they have. */
      firstFailureAt?: string;
    }
  /** Nothing to send: ack. `record` is what KV should say, `behind` if it may not say so yet. */
  | { kind: "settled"; record: StatusRecord | null; behind: boolean; version: number }
  /** A request still in flight in another invocation holds it: retry after this many seconds. */
  | { kind: "wait"; seconds: number };

/** One request to make, byte for byte the same on every attempt. */
export interface SendPlan {
  key: string;
  /** The provider the request goes to, every time (null or absent: made before failover, the first listed). */
  provider?: string | null;
  /** An earlier attempt under this key went unanswered: this is that request again. */
  resend: boolean;
  fromJson: string;
  subjectJson: string;
  /** Sorted by id. `frame` is given for notes that are not in this batch. */
  notes: { id: string; frame?: Uint8Array }[];
}

export interface ClaimResult {
  decisions: Record<string, ClaimDecision>;
  sends: SendPlan[];
}

/** One note's result of a send, as the consumer reports it to {@link DeliveryLedgerApi.settle}. */
export interface NoteOutcome {
  id: string;
  /** The key of the request the note went out in. */
  key: string;
  /** What the note's status becomes: `sent`, `retrying` or `failed`. */
  record: StatusRecord;
  /** For `retrying`: the provider may have taken the request although it never said so. */
  ambiguous?: boolean;
  /**
   * For `retrying`: the status KV shows already says this (state and code): keep it as it is, for
   * a pipeline-level failure that lasts hours would rewrite every waiting note's record each hour.
   */
  unchanged?: boolean;
  /** For `failed`: the dead letter's reason and sentence. */
  deadLetter?: { reason: DeliveryErrorCode; message: string; possiblySent: boolean };
}

export interface SettleInput {
  holder: string;
  /** When a provider's circuit opens: given, the answers move the circuits (circuits.ts). */
  circuit?: CircuitSettings;
  outcomes: NoteOutcome[];
  /** Ids whose status the consumer wrote to KV before this call, as its outcome says. */
  written: string[];
}

/** What became of a note once settled: `record` is the ledger's, which may be further on. */
export interface Settled {
  record: StatusRecord;
  /** The note is no longer held by a request: its message may be acked. */
  done: boolean;
}

export type SettleResult = Record<string, Settled>;

/** A status record that KV may not hold yet, with the version that says so. */
export interface BehindRecord {
  record: StatusRecord;
  version: number;
}

export interface DeadLetterQuery {
  reason?: DeliveryErrorCode | undefined;
  /** ms since the epoch: only entries whose last failure is at or after it. */
  since?: number | undefined;
  /** The id after which the page starts. */
  after?: string | undefined;
  limit: number;
}

export interface DeadLetterPage {
  deadLetters: DeadLetter[];
  /** The id to go on after, or null at the end. */
  cursor: string | null;
}

export interface ReplayStart {
  /** Entries to put back on the queue, each with the frame and the replay's token. */
  replay: { id: string; frame: Uint8Array; acceptedAt: number | null }[];
  skipped: { id: string; reason: ReplaySkip }[];
  /** The ids past the request's byte budget, not looked at: the caller's `remaining`. */
  unstarted: string[];
}

export type DiscardResult =
  | { kind: "not_found" }
  | { kind: "in_queue" }
  | { kind: "discarded"; record: StatusRecord | null; version: number };

export interface LedgerStats {
  states: Record<string, number>;
  records: number;
  deadLetters: { total: number; byReason: Record<string, number>; possiblySent: number };
  /** Status records KV may not hold yet: the repair's backlog. */
  behind: number;
  /** Requests unanswered and not in flight: their notes wait for a resend. */
  unanswered: number;
  /** Each provider's circuit, once a claim routed through it. */
  circuits: CircuitStat[];
  usage: LedgerUsage;
}

export type EventOutcome =
  | { kind: "unknown" }
  | { kind: "duplicate" }
  | { kind: "not_newer" }
  | { kind: "applied"; record: StatusRecord; version: number };
