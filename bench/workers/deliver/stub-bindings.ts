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

import type { StatusRecord } from "@notepipe/pipeline";
import type { DeliveryLedger } from "../../../workers/deliver/src/ledger/ledger.ts";
import type {
  BehindRecord,
  ClaimDecision,
  ClaimInput,
  ClaimResult,
  EventOutcome,
  ReplayStart,
  SettleInput,
  SettleResult,
} from "../../../workers/deliver/src/ledger/types.ts";

/** The ledger's methods deliver's code calls here, typed after the real ledger's, as promises (RPC). */
type LedgerMethods = "claim" | "settle" | "synced" | "applyEvent" | "beginReplay" | "finishReplay";
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
    async finishReplay(ids: string[], token: number): Promise<BehindRecord[]> {
      acrossRpc({ ids, token });
      const updatedAt = new Date().toISOString();
      return acrossRpc(
        ids.map((id) => ({ record: { id, state: "queued" as const, attempts: 1, updatedAt }, version: 2 })),
      );
    },
  };
}

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
  };
}
