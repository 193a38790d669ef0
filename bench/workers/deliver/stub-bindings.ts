/**
 * deliver's bindings as the bench stands them in, inside the Worker's own isolate. Miniflare's
 * simulated KV costs ~1.5 ms of in-process CPU per put, and the real ledger runs in a Durable Object
 * isolate of its own in production: left real, both would land in the consumer's workerd counters.
 *
 * The ledger behaves like one that has never seen the notes (every note goes out, in one request,
 * and settles done). What deliver does pay in production for an RPC is the serialisation of its
 * arguments and of the answer: each call here `structuredClone`s both, which charges deliver the
 * serialisation it pays and the deserialisation the Durable Object pays (a slight overcharge).
 * Queue sends are cloned the same way (a v8 message is serialised by the sender).
 */

import type { DeadLetter, StatusRecord } from "@notepipe/pipeline";
import type { DeliveryLedger } from "../../../workers/deliver/src/ledger/ledger.ts";
import type { Overview } from "../../../workers/deliver/src/ledger/overview-types.ts";
import type { NoteTimeline, TimelineStep } from "../../../workers/deliver/src/ledger/timeline.ts";
import type {
  BehindRecord,
  ClaimDecision,
  ClaimInput,
  ClaimResult,
  DeadLetterPage,
  DeadLetterQuery,
  EventOutcome,
  LedgerStats,
  ReplayStart,
  SettleInput,
  SettleResult,
} from "../../../workers/deliver/src/ledger/types.ts";

/** The ledger's methods deliver's code calls here, typed after the real ledger's, as promises (RPC). */
type LedgerMethods =
  | "claim"
  | "settle"
  | "synced"
  | "applyEvent"
  | "beginReplay"
  | "finishReplay"
  | "overview"
  | "listDeadLetters"
  | "stats"
  | "timeline";
type StubLedger = {
  [M in LedgerMethods]: (...args: Parameters<DeliveryLedger[M]>) => Promise<ReturnType<DeliveryLedger[M]>>;
};

/** What crossing an RPC boundary costs: a v8 serialisation and a deserialisation. */
const acrossRpc = <T>(value: T): T => structuredClone(value);

export interface StubLedgerOptions {
  /** The frame every dead letter holds, for `beginReplay`. */
  deadLetterFrame?: () => Uint8Array | undefined;
}

/**
 * A ledger that has never seen the notes: `claim` sends every note in one request under the
 * batch's new key; `settle` answers each outcome's record, done.
 */
export function stubLedger(options: StubLedgerOptions = {}): StubLedger {
  return {
    async claim(input: ClaimInput): Promise<ClaimResult> {
      const claim = acrossRpc(input);
      const decisions: Record<string, ClaimDecision> = {};
      for (const note of claim.notes) decisions[note.id] = { kind: "send", key: claim.newKey };
      for (const note of claim.undecodable)
        decisions[note.id] = { kind: "settled", record: null, behind: false, version: 1 };
      const ids = claim.notes.map((note) => note.id).sort();
      const sends =
        ids.length === 0
          ? []
          : [
              {
                key: claim.newKey,
                resend: false,
                fromJson: claim.fromJson,
                subjectJson: claim.subjectJson,
                notes: ids.map((id) => ({ id })),
              },
            ];
      return acrossRpc({ decisions, sends });
    },
    async settle(input: SettleInput): Promise<SettleResult> {
      const settle = acrossRpc(input);
      const result: SettleResult = {};
      for (const outcome of settle.outcomes) result[outcome.id] = { record: outcome.record, done: true };
      return acrossRpc(result);
    },
    async synced(entries: { id: string; version: number }[]): Promise<void> {
      acrossRpc(entries);
    },
    async applyEvent(event: {
      noteId: string;
      state: StatusRecord["state"];
      eventId: string;
      error?: string;
    }): Promise<EventOutcome> {
      const { noteId, state, error } = acrossRpc(event);
      const record: StatusRecord = { id: noteId, state, attempts: 1, updatedAt: new Date().toISOString() };
      if (error !== undefined) record.error = error;
      return acrossRpc({ kind: "applied", record, version: 3 });
    },
    async beginReplay(
      ids: string[],
      token: number,
      includePossiblySent: boolean,
      maxFrameBytes = Number.POSITIVE_INFINITY,
    ): Promise<ReplayStart> {
      acrossRpc({ ids, token, includePossiblySent, maxFrameBytes });
      const frame = options.deadLetterFrame?.();
      if (frame === undefined) throw new Error("stub ledger: no dead-letter frame set");
      const acceptedAt = token - 60_000;
      // As the ledger does: past the byte budget (always after the first), the rest is unstarted.
      const taken = Math.max(1, Math.min(ids.length, Math.floor(maxFrameBytes / frame.length)));
      return acrossRpc({
        replay: ids.slice(0, taken).map((id) => ({ id, frame, acceptedAt })),
        skipped: [],
        unstarted: ids.slice(taken),
      });
    },
    // The console's pages (src/console), each at its dearest: a busy week in the series, a full page
    // of dead letters holding the note's frame, a note that went through all its retries.
    async overview(): Promise<Overview> {
      return acrossRpc(busyOverview(Date.now()));
    },
    async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetterPage> {
      acrossRpc(query);
      const frame = options.deadLetterFrame?.();
      if (frame === undefined) throw new Error("stub ledger: no dead-letter frame set");
      // workerd's native Uint8Array.prototype.toBase64 (workers/deliver/src/uint8array-base64.d.ts).
      const base64 = (frame as unknown as { toBase64(): string }).toBase64();
      const at = new Date().toISOString();
      const deadLetters: DeadLetter[] = Array.from({ length: query.limit }, (_, i) => ({
        id: `${String(i).padStart(8, "0")}-0000-4000-8000-000000000000`,
        frame: base64,
        reason: "rejected",
        message: "The provider refused this email: Invalid `to` field.",
        attempts: 1,
        firstFailureAt: at,
        lastFailureAt: at,
        possiblySent: i % 10 === 0,
        acceptedAt: Date.now() - 60_000,
      }));
      return acrossRpc({ deadLetters, cursor: deadLetters.at(-1)?.id ?? null });
    },
    async stats(): Promise<LedgerStats> {
      return acrossRpc({
        states: { sent: 90_000, delivered: 80_000, failed: 500, dead: 200 },
        records: 170_700,
        deadLetters: { total: 700, byReason: { rejected: 500, sender_not_verified: 200 }, possiblySent: 50 },
        behind: 0,
        unanswered: 0,
        circuits: [],
        usage: {
          since: new Date().toISOString(),
          requests: {},
          rowsRead: 0,
          rowsWritten: 0,
          kvWrites: 0,
          claimedNotes: 0,
        },
      });
    },
    async timeline(id: string): Promise<NoteTimeline | null> {
      const accepted = Date.now() - 3_600_000;
      const retries: TimelineStep[] = Array.from({ length: 10 }, (_, i) => ({
        kind: "retrying",
        at: accepted + i * 60_000,
        code: "sender_not_verified",
        delaySeconds: 60,
      }));
      return acrossRpc({
        id,
        state: "delivered",
        attempts: 12,
        acceptedAt: accepted,
        updatedAt: accepted + 900_000,
        recipient: null,
        error: null,
        errorCode: null,
        deadLetter: null,
        nextAttemptAt: null,
        steps: [
          ...retries,
          { kind: "dead", at: accepted + 660_000, code: "sender_not_verified" },
          { kind: "replayed", at: accepted + 800_000 },
          { kind: "sent", at: accepted + 805_000 },
          { kind: "delivered", at: accepted + 900_000 },
        ],
        stepsOmitted: false,
      });
    },
    async finishReplay(ids: string[], token: number): Promise<BehindRecord[]> {
      acrossRpc({ ids, token });
      const updatedAt = new Date().toISOString();
      return acrossRpc(
        ids.map((id) => ({ record: { id, state: "queued" as const, attempts: 1, updatedAt }, version: 2 })),
      );
    },
  };
}

/** A week in which every minute counted something different: the most path a chart can draw. */
function busyOverview(now: number): Overview {
  const minute = now - (now % 60_000);
  const hour = now - (now % 3_600_000);
  const point = (at: number, i: number, scale: number) => ({
    at,
    accepted: scale * (50 + ((i * 7) % 40)),
    sent: scale * (48 + ((i * 11) % 40)),
    delivered: scale * (45 + ((i * 13) % 40)),
    failed: (i * 3) % 5,
  });
  return {
    now,
    perMinute: Array.from({ length: 1440 }, (_, i) => point(minute - (1439 - i) * 60_000, i, 1)),
    perHour: Array.from({ length: 168 }, (_, i) => point(hour - (167 - i) * 3_600_000, i, 60)),
    latency: { p50Ms: 2_100, p99Ms: 41_000 },
    answers: { ok: 1_400, throttled: 12, server_error: 3, refused: 1, no_answer: 2 },
    backlog: { waiting: 120, oldestAcceptedAt: now - 300_000 },
    deadLetters: [
      { reason: "rejected", count: 500 },
      { reason: "sender_not_verified", count: 200 },
    ],
    quotas: [
      { name: "KV writes", used: 812, limit: 1_000 },
      { name: "queue operations", used: 4_200, limit: 10_000 },
      { name: "ledger rows written", used: 38_000, limit: 100_000 },
    ],
    alerts: [{ kind: "quota", since: now - 600_000, message: "KV writes passed 80 % of today's 1,000." }],
  };
}

/** Sign-in tries are never limited here: the bench signs in once per run. */
const noLimit = { limit: async () => ({ success: true }) } as unknown as RateLimit;

/** The `LEDGER` namespace: every name is the one stub ledger. */
export function stubLedgerNamespace(ledger: StubLedger): Env["LEDGER"] {
  return { getByName: () => ledger, get: () => ledger } as unknown as Env["LEDGER"];
}

/** `STATUS`: a put resolves at once, a read finds nothing. */
export function stubKv(): KVNamespace {
  return {
    async put() {},
    async get() {
      return null;
    },
    async getWithMetadata() {
      return { value: null, metadata: null, cacheStatus: null };
    },
    async delete() {},
  } as unknown as KVNamespace;
}

/** A queue producer that takes every message, paying the v8 serialisation its sender pays. */
export function stubQueue(): Queue {
  return {
    async send(body: unknown) {
      acrossRpc(body);
    },
    async sendBatch(messages: Iterable<MessageSendRequest>) {
      acrossRpc([...messages].map((message) => message.body));
    },
  } as unknown as Queue;
}

/** deliver's env with the stubs in place of its ledger, KV and queue producers. */
export function stubbedEnv(env: Env, options: StubLedgerOptions = {}): Env {
  return {
    ...env,
    LEDGER: stubLedgerNamespace(stubLedger(options)),
    STATUS: stubKv(),
    NOTES_QUEUE: stubQueue(),
    NOTES_LARGE_QUEUE: stubQueue(),
    DEAD_LETTER_QUEUE: stubQueue(),
    SIGN_IN_LIMITER: noLimit,
  };
}
