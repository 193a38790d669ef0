/**
 * What the tests do to and read from the delivery ledger and the `STATUS` namespace: look at a
 * note's row, let leases run out or keys age as time would, and hand the Worker an `env` whose
 * KV or ledger fails on a schedule (a fault-injecting wrapper, as Miniflare has no wrappedBindings).
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { DeadLetter, StatusRecord } from "@notepipe/pipeline";
import { expect, vi } from "vitest";
import { ledgerOf } from "../src/ledger/client.ts";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { statusRecordOf } from "../src/ledger/notes.ts";
import type { NoteRow } from "../src/ledger/schema.ts";
import type { ClaimInput } from "../src/ledger/types.ts";
import { repairStatuses } from "../src/status/repair.ts";

export interface LedgerNote {
  id: string;
  state: string;
  request_key: string | null;
  dead_letter: number;
  possibly_sent: number;
  version: number;
  kv_version: number;
  frame: ArrayBuffer | null;
}

export const ledger = () => ledgerOf(env);

/** A claim as the notes consumer makes it for `notes`, by invocation `holder`, with a minute's lease. */
export function claimOf(holder: string, notes: { id: string; frame: Uint8Array }[]): ClaimInput {
  return {
    holder,
    newKey: `key-${crypto.randomUUID()}`,
    fromJson: '"Notepipe <notes@example.com>"',
    subjectJson: '"A note"',
    leaseMs: 60_000,
    keyWindowMs: 23 * 60 * 60 * 1000,
    notes: notes.map((note) => ({ id: note.id, frame: note.frame, acceptedAt: null, attempts: 1 })),
    undecodable: [],
  };
}

function sql<T>(query: string, ...bindings: unknown[]): Promise<T[]> {
  return runInDurableObject(
    ledger(),
    (_instance: DeliveryLedger, state) => state.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}

/** The ledger's row for a note, or null if it never saw it. */
export async function ledgerNote(id: string): Promise<LedgerNote | null> {
  return (await sql<LedgerNote>("SELECT * FROM notes WHERE id = ?", id))[0] ?? null;
}

/** The status record the ledger holds for a note, as it would write it to KV. */
export async function ledgerRecord(id: string): Promise<StatusRecord | null> {
  const row = (await sql<NoteRow>("SELECT * FROM notes WHERE id = ?", id))[0];
  return row === undefined ? null : statusRecordOf(row);
}

/** The dead letter the ledger lists for `id`, or null. */
export async function deadLetterOf(id: string): Promise<DeadLetter | null> {
  const { deadLetters } = await ledger().listDeadLetters({ limit: 5, after: id.slice(0, -1) });
  return deadLetters.find((letter) => letter.id === id) ?? null;
}

/** As if every request in flight had outlived its lease: its holder died, or is too slow. */
export async function expireLeases(): Promise<void> {
  await sql("UPDATE requests SET lease_until = 0 WHERE holder IS NOT NULL");
}

/** As if every request had first gone out `ms` ago. */
export async function ageRequests(ms: number): Promise<void> {
  await sql("UPDATE requests SET created_at = created_at - ?", ms);
}

export type KvOperation = "get" | "getWithMetadata" | "put" | "list" | "delete";

/**
 * A `STATUS` that throws on the operations `failing` names, as KV does during an outage or once a
 * Free plan's daily quota is spent. `failing` is read on every call, so a test can heal it.
 */
export function faultyKv(kv: KVNamespace, failing: { ops: ReadonlySet<KvOperation> }): KVNamespace {
  return new Proxy(kv, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (failing.ops.has(property as KvOperation)) {
          return Promise.reject(new Error(`KV ${String(property)} failed: simulated outage`));
        }
        return value.apply(target, args);
      };
    },
  });
}

export type LedgerMethod = keyof DeliveryLedger & string;

/**
 * A `LEDGER` namespace whose stub throws before (or after) the methods `failing` names: `before`
 * as a Durable Object that cannot be reached, `after` as an invocation killed at that await, the
 * ledger's work done but its answer never read.
 */
export function faultyLedger(
  namespace: Env["LEDGER"],
  failing: { before?: ReadonlySet<LedgerMethod>; after?: ReadonlySet<LedgerMethod> },
): Env["LEDGER"] {
  return new Proxy(namespace, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property !== "getByName") return typeof value === "function" ? value.bind(target) : value;
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(stubTarget, method) {
            if (typeof method !== "string" || method === "then") return Reflect.get(stubTarget, method);
            // An RPC stub answers every name with a remote method; `apply` would be sent as a call.
            return async (...args: unknown[]) => {
              if (failing.before?.has(method as LedgerMethod)) throw new Error(`ledger ${method}: unreachable`);
              const remote = Reflect.get(stubTarget, method) as (...a: unknown[]) => unknown;
              const result = await Reflect.apply(remote, stubTarget, args);
              if (failing.after?.has(method as LedgerMethod)) throw new Error(`ledger ${method}: killed`);
              return result;
            };
          },
        });
      };
    },
  }) as Env["LEDGER"];
}

/** The test's `env` with some bindings replaced. */
export function envWith(overrides: Partial<Env>): Env {
  return { ...env, ...overrides } as Env;
}

/** As if every note's last change were `ms` old: the repair leaves the last minute's alone. */
export async function ageNotes(ms: number): Promise<void> {
  await sql("UPDATE notes SET updated_at = updated_at - ?", ms);
}

/**
 * The Cron Trigger's repair, run as it would be a few minutes from now: it leaves alone what was
 * written in its last quiet minute, which may still be on its way to KV.
 */
export async function repairLater(): Promise<Awaited<ReturnType<typeof repairStatuses>>> {
  const clock = vi.spyOn(Date, "now").mockReturnValue(Date.now() + 5 * 60_000);
  try {
    return await repairStatuses(env);
  } finally {
    clock.mockRestore();
  }
}

/** The ledger's row says KV holds its latest version. */
export async function expectKvCaughtUp(id: string): Promise<void> {
  const row = await ledgerNote(id);
  expect(row?.kv_version).toBe(row?.version);
}
