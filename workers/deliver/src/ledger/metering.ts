/**
 * What the platform bills the ledger object for, and the KV writes it learns of, since it woke (in
 * memory: an eviction or a deploy zeroes it). The capacity bench (bench/capacity.ts) reads it
 * through GET /ops/stats, and turns it on with the deliver Worker's `LEDGER_METERING = "on"`; off
 * (production), the ledger runs its queries through {@link plainExec} and counts nothing.
 */

import type { LedgerUsage } from "@notepipe/pipeline";
import type { Exec } from "./schema.ts";

export class Meter {
  private readonly counted: LedgerUsage = {
    since: new Date().toISOString(),
    requests: {},
    rowsRead: 0,
    rowsWritten: 0,
    kvWrites: 0,
    claimedNotes: 0,
  };

  /** One RPC call: a Durable Object request. */
  request(method: string): void {
    this.counted.requests[method] = (this.counted.requests[method] ?? 0) + 1;
  }

  /** Status records KV took, as a writer reported them. */
  kvWrites(count: number): void {
    this.counted.kvWrites += count;
  }

  /** Notes handed to a claim: each one a queue delivery (a read) of its message. */
  claimedNotes(count: number): void {
    this.counted.claimedNotes += count;
  }

  /** Runs every query of the ledger, read to its end so that its row counts are final, and counts them. */
  exec(sql: SqlStorage): Exec {
    return (query, ...bindings) => {
      const cursor = sql.exec(query, ...bindings);
      const rows = cursor.toArray();
      this.counted.rowsRead += cursor.rowsRead;
      this.counted.rowsWritten += cursor.rowsWritten;
      return { rows: rows as never, rowsWritten: cursor.rowsWritten };
    };
  }

  usage(): LedgerUsage {
    return { ...this.counted, requests: { ...this.counted.requests } };
  }
}

/** A meter when `LEDGER_METERING` is "on", else none. */
export function meterFor(env: Env): Meter | null {
  // A string, whatever literal wrangler.deliver.toml's default types it as: the bench sets "on".
  const setting: string = env.LEDGER_METERING;
  return setting === "on" ? new Meter() : null;
}

/** What an unmetered ledger answers for `usage`: nothing counted since it woke. */
export function unmetered(since: string): LedgerUsage {
  return { since, requests: {}, rowsRead: 0, rowsWritten: 0, kvWrites: 0, claimedNotes: 0 };
}

/** Runs every query of the ledger, read to its end. */
export function plainExec(sql: SqlStorage): Exec {
  return (query, ...bindings) => {
    const cursor = sql.exec(query, ...bindings);
    const rows = cursor.toArray();
    // Read only by a caller that wants it: each read is a call into the runtime.
    return {
      rows: rows as never,
      get rowsWritten() {
        return cursor.rowsWritten;
      },
    };
  };
}
