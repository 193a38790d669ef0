/**
 * The ledger's time series: one row per UTC minute in `series_minutes`, counted by the same
 * transaction as the notes it counts (no request of its own), and one row per hour in
 * `series_hours`, rolled up from the minutes by the Cron's prune. The ops overview (overview.ts)
 * reads them; workers/deliver/README.md, "The time series", has the costs.
 *
 * Why an hourly table: a 7-day chart read from minutes reads 10,080 rows a page; read from hours,
 * 168. Kept by every settle instead, it would cost a row written per call (2 per batch), the
 * Free plan's scarcer resource (100,000 rows written a day against 5M read); rolled up by the
 * prune, it costs 24 rows written a day, whatever the traffic.
 *
 * Like counters.ts, the changes of the call under way gather in memory and land in one row write
 * at the call's end ({@link writeSeries}); a call that threw rolls back and {@link beginSeries}
 * drops what it left.
 */

import type { DeliveryErrorCode } from "@notepipe/pipeline";
import { SERIES_COUNTS, type SeriesCount } from "./overview-schema.ts";
import type { AnswerClass } from "./overview-types.ts";
import { type Exec, type NoteRow, RANK } from "./schema.ts";
import type { NoteOutcome } from "./types.ts";

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
/** Minutes and hours are kept 7 days: the longest chart the overview draws. */
export const SERIES_KEEP_MS = 7 * 24 * HOUR_MS;

/** One bucket: its start (ms), its counts, its latency histogram (bucket index → notes). */
export interface Bucket {
  at: number;
  counts: Record<SeriesCount, number>;
  latency: Map<number, number>;
}

/**
 * How each failure code counts as a provider answer: by what the provider said about the request
 * as a whole. A permissive batch that refused some emails was still answered 2xx (`ok`). Codes no
 * provider answer makes (a frame that does not decode, a discard) are null. A new code is one line.
 */
const ANSWER_OF: Record<DeliveryErrorCode, AnswerClass | null> = {
  timeout: "no_answer",
  network_error: "no_answer",
  provider_unavailable: "server_error",
  rate_limited: "throttled",
  request_in_progress: "refused",
  auth_failed: "refused",
  sender_not_verified: "refused",
  quota_exceeded: "refused",
  request_invalid: "refused",
  config_invalid: "refused",
  unexpected_response: "refused",
  possibly_sent: "refused",
  rejected: "ok",
  inactive_recipient: "ok",
  undecodable: null,
  retries_exhausted: null,
  discarded: null,
};

/** The provider's answer to the request a note went out in, as its outcome says. */
export function answerOf(outcome: NoteOutcome): AnswerClass | null {
  const code = outcome.record.errorCode;
  return outcome.record.state === "sent" || code === undefined ? "ok" : ANSWER_OF[code];
}

/** The first outcome of each request in a settle: one answer per request. */
export function answersOf(outcomes: readonly NoteOutcome[]): NoteOutcome[] {
  const seen = new Set<string>();
  return outcomes.filter((outcome) => !seen.has(outcome.key) && seen.add(outcome.key));
}

/**
 * Latency buckets: 8 per doubling of milliseconds, so a bucket's geometric middle, the value a
 * percentile answers, is within 2^(1/16) − 1 = 4.4 % of every latency in it. A week's latencies
 * (2^30 ms) fit in 240 buckets; a minute stores only the ones it used, as JSON.
 */
const BUCKETS_PER_DOUBLING = 8;

export function latencyBucket(ms: number): number {
  return Math.floor(Math.log2(Math.max(1, ms)) * BUCKETS_PER_DOUBLING);
}

export function bucketMiddle(index: number): number {
  return Math.round(2 ** ((index + 0.5) / BUCKETS_PER_DOUBLING));
}

/** The `q` quantile (0–1) of a histogram, as its bucket's middle; null when it is empty. */
export function percentile(histogram: ReadonlyMap<number, number>, q: number): number | null {
  let total = 0;
  for (const n of histogram.values()) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const index of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(index) ?? 0;
    if (seen >= rank) return bucketMiddle(index);
  }
  return null;
}

// --- the call under way ---

const pending = emptyBucket(0);

function emptyCounts(): Record<SeriesCount, number> {
  return Object.fromEntries(SERIES_COUNTS.map((count) => [count, 0])) as Record<SeriesCount, number>;
}

export function emptyBucket(at: number): Bucket {
  return { at, counts: emptyCounts(), latency: new Map() };
}

export function beginSeries(): void {
  for (const count of SERIES_COUNTS) pending.counts[count] = 0;
  pending.latency.clear();
}

export function countSeries(count: SeriesCount, n = 1): void {
  pending.counts[count] += n;
}

/**
 * A note's row moved from `before` (null: never seen) to `after`. A note is `accepted` the first
 * time the ledger sees it (its first claim, or its filing); `sent` when it first reaches sent or
 * later, with its time from acceptance; `failed` when it becomes a dead letter.
 */
export function countMove(before: NoteRow | null, after: NoteRow): void {
  if (before === null && !after.id.startsWith("msg-")) pending.counts.accepted++;
  const wasSent = before !== null && RANK[before.state] >= RANK.sent;
  if (!wasSent && RANK[after.state] >= RANK.sent) {
    pending.counts.sent++;
    if (after.accepted_at !== null) {
      const index = latencyBucket(after.updated_at - after.accepted_at);
      pending.latency.set(index, (pending.latency.get(index) ?? 0) + 1);
    }
  }
  if (after.state === "delivered" && before?.state !== "delivered") pending.counts.delivered++;
  if (after.dead_letter === 1 && before?.dead_letter !== 1) pending.counts.failed++;
}

/** Each request's answer in a settle, once per request. */
export function countAnswers(outcomes: readonly NoteOutcome[]): void {
  for (const outcome of answersOf(outcomes)) {
    const answer = answerOf(outcome);
    if (answer !== null) pending.counts[answer]++;
  }
}

/**
 * Counts every row the call's queries write (`rows_written`, for the Free plan's 100,000 a day).
 * Reading `rowsWritten` is one call into the runtime per query, a fraction of a microsecond.
 */
export function countingRowsWritten(exec: Exec): Exec {
  return <T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]) => {
    const result = exec<T>(query, ...bindings);
    pending.counts.rows_written += result.rowsWritten;
    return result;
  };
}

/**
 * Adds the call's changes to the minute `now` falls in: one row written, none if nothing changed
 * but rows. `rows_written` counts this write too.
 */
export function writeSeries(exec: Exec, now: number): void {
  const counts = SERIES_COUNTS.filter((count) => count !== "rows_written" && pending.counts[count] !== 0);
  if (counts.length === 0 && pending.counts.rows_written === 0) return;
  pending.counts.rows_written++;
  const at = now - (now % MINUTE_MS);
  let latency = "{}";
  if (pending.latency.size > 0) {
    const stored = exec<{ latency: string }>("SELECT latency FROM series_minutes WHERE at = ?", at).rows[0];
    const merged = parseLatency(stored?.latency ?? "{}");
    for (const [index, n] of pending.latency) merged.set(index, (merged.get(index) ?? 0) + n);
    latency = latencyJson(merged);
  }
  exec(
    `INSERT INTO series_minutes (at, ${SERIES_COUNTS.join(", ")}, latency)
       VALUES (?, ${SERIES_COUNTS.map(() => "?").join(", ")}, ?)
     ON CONFLICT (at) DO UPDATE SET ${SERIES_COUNTS.map((count) => `${count} = ${count} + excluded.${count}`).join(", ")}${
       pending.latency.size > 0 ? ", latency = excluded.latency" : ""
     }`,
    at,
    ...SERIES_COUNTS.map((count) => pending.counts[count]),
    latency,
  );
  beginSeries();
}

// --- reading, rolling up, pruning ---

export function parseLatency(json: string): Map<number, number> {
  return new Map(Object.entries(JSON.parse(json) as Record<string, number>).map(([index, n]) => [Number(index), n]));
}

function latencyJson(histogram: ReadonlyMap<number, number>): string {
  return JSON.stringify(Object.fromEntries(histogram));
}

type SeriesRow = Record<SeriesCount, number> & { at: number; latency: string };

function bucketOf(row: SeriesRow): Bucket {
  const counts = emptyCounts();
  for (const count of SERIES_COUNTS) counts[count] = row[count];
  return { at: row.at, counts, latency: parseLatency(row.latency) };
}

/** Adds `from` into `into`. */
export function addBucket(into: Bucket, from: Bucket): void {
  for (const count of SERIES_COUNTS) into.counts[count] += from.counts[count];
  for (const [index, n] of from.latency) into.latency.set(index, (into.latency.get(index) ?? 0) + n);
}

/** The rows of `table` with `from <= at < to`, oldest first: only the buckets that counted something. */
export function readBuckets(exec: Exec, table: "series_minutes" | "series_hours", from: number, to: number): Bucket[] {
  return exec<SeriesRow>(`SELECT * FROM ${table} WHERE at >= ? AND at < ? ORDER BY at`, from, to).rows.map(bucketOf);
}

/** Where the hourly table ends: every hour before it is rolled up (the `meta` row `series_hours_to`). */
export function hoursRolledTo(exec: Exec): number | null {
  return exec<{ value: number }>("SELECT value FROM meta WHERE key = 'series_hours_to'").rows[0]?.value ?? null;
}

/** At most a week of hours per run, so that a ledger whose Cron stopped for a while catches up in steps. */
const ROLL_UP_HOURS = 168;

/**
 * Rolls every whole hour before `now` not yet rolled up into `series_hours`: 60 minute rows read
 * and one hour row written per hour that counted something, and one `meta` row per run that moved.
 */
export function rollUpHours(exec: Exec, now: number): void {
  const end = now - (now % HOUR_MS);
  const weekAgo = end - SERIES_KEEP_MS;
  const oldest = exec<{ at: number | null }>("SELECT min(at) AS at FROM series_minutes").rows[0]?.at ?? end;
  let from = Math.max(hoursRolledTo(exec) ?? oldest - (oldest % HOUR_MS), weekAgo);
  if (from >= end) return;
  for (let hours = 0; from < end && hours < ROLL_UP_HOURS; hours++, from += HOUR_MS) {
    const minutes = readBuckets(exec, "series_minutes", from, from + HOUR_MS);
    if (minutes.length === 0) continue;
    const hour = emptyBucket(from);
    for (const minute of minutes) addBucket(hour, minute);
    exec(
      `INSERT OR REPLACE INTO series_hours (at, ${SERIES_COUNTS.join(", ")}, latency)
         VALUES (?, ${SERIES_COUNTS.map(() => "?").join(", ")}, ?)`,
      from,
      ...SERIES_COUNTS.map((count) => hour.counts[count]),
      latencyJson(hour.latency),
    );
  }
  setRolledTo(exec, from);
}

function setRolledTo(exec: Exec, at: number): void {
  exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('series_hours_to', ?)", at);
}

/** Rows deleted per table per prune at most: a week's backlog goes in steps too. */
const PRUNE_SERIES_BATCH = 500;

/** Deletes minutes and hours older than 7 days, oldest first, through their primary keys. */
export function pruneSeries(exec: Exec, now: number): void {
  for (const table of ["series_minutes", "series_hours"]) {
    exec(
      `DELETE FROM ${table} WHERE at IN (SELECT at FROM ${table} WHERE at < ? ORDER BY at LIMIT ?)`,
      now - SERIES_KEEP_MS - HOUR_MS,
      PRUNE_SERIES_BATCH,
    );
  }
}
