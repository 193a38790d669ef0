/**
 * What `stats` answers, kept in the `counters` table by the same transaction as every change to a
 * note, never counted by a scan: records per state, dead letters per reason and how many may have
 * been sent, records KV is behind on. The writers of notes.ts report each row as it was and as it
 * is; the ledger's `call` adds the sums at the end of the call. All counters sit in one row, so a
 * call that moves any costs one row written, not one per counter: a webhook moves three
 * (sent, delivered, behind), and a row each would add two rows written to every note.
 */

import type { Exec, NoteRow } from "./schema.ts";

/** The columns a note's counters depend on. */
export type Counted = Pick<
  NoteRow,
  "id" | "state" | "dead_letter" | "error_code" | "possibly_sent" | "version" | "kv_version"
>;

/** The columns {@link Counted} names, for a query that reads or returns them. */
export const COUNTED_COLUMNS = "id, state, dead_letter, error_code, possibly_sent, version, kv_version";

/** The counters one note's row adds one to. */
function countersOf(row: Counted): string[] {
  const names: string[] = [];
  // A row for a message without a note id has no status record (notes.ts, isMessageId).
  if (!row.id.startsWith("msg-")) names.push(`state:${row.state}`);
  if (row.dead_letter === 1) {
    names.push(`dead:${row.error_code ?? "retries_exhausted"}`);
    if (row.possibly_sent === 1) names.push("possibly_sent");
  }
  if (row.kv_version < row.version) names.push("behind");
  return names;
}

/**
 * The changes of the call under way. Each call is one synchronous transaction, so no other call's
 * changes can mix in; {@link beginCounting} drops what a call that threw (and rolled back) left.
 */
const pending = new Map<string, number>();

export function beginCounting(): void {
  pending.clear();
}

/** A note's row changed from `before` to `after` (null: absent). */
export function countChange(before: Counted | null, after: Counted | null): void {
  for (const name of before === null ? [] : countersOf(before)) pending.set(name, (pending.get(name) ?? 0) - 1);
  for (const name of after === null ? [] : countersOf(after)) pending.set(name, (pending.get(name) ?? 0) + 1);
}

/** Adds the call's changes to the counters' row, if any moved. */
export function writeCounts(exec: Exec): void {
  const moved = [...pending].filter(([, delta]) => delta !== 0);
  pending.clear();
  if (moved.length === 0) return;
  const counts = readRow(exec);
  for (const [name, delta] of moved) counts[name] = (counts[name] ?? 0) + delta;
  exec("UPDATE counters SET counts = ? WHERE id = 0", JSON.stringify(counts));
}

function readRow(exec: Exec): Record<string, number> {
  const row = exec<{ counts: string }>("SELECT counts FROM counters WHERE id = 0").rows[0];
  return row === undefined ? {} : (JSON.parse(row.counts) as Record<string, number>);
}

export interface Counts {
  states: Record<string, number>;
  records: number;
  deadLetters: { total: number; byReason: Record<string, number>; possiblySent: number };
  behind: number;
}

/** Every counter, from their one row. */
export function readCounts(exec: Exec): Counts {
  const counts: Counts = {
    states: {},
    records: 0,
    deadLetters: { total: 0, byReason: {}, possiblySent: 0 },
    behind: 0,
  };
  for (const [name, n] of Object.entries(readRow(exec))) {
    if (n === 0) continue;
    const [kind, value = ""] = name.split(":", 2);
    if (kind === "state") {
      counts.states[value] = n;
      counts.records += n;
    } else if (kind === "dead") {
      counts.deadLetters.byReason[value] = n;
      counts.deadLetters.total += n;
    } else if (kind === "possibly_sent") counts.deadLetters.possiblySent = n;
    else if (kind === "behind") counts.behind = n;
  }
  return counts;
}
