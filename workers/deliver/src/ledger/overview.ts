/**
 * The ops overview in one ledger call (`overview()`, ledger.ts): series, latency, answers,
 * backlog, dead letters, today's quotas, the alerts firing and the providers' circuits. What it
 * reads, at most: the last 24 hours' minute rows for the chart (five columns each), 168 hour rows,
 * the minutes since the last hour rolled up (normally the current hour's), the counters' row, the 4
 * alert rows, one entry of the retrying index and the circuits' rows (one per provider deliver
 * knows): never a note. Only hours' and recent minutes' histograms are parsed.
 */

import { type AlertInputs, type AlertSettings, firingAlerts } from "./alerts.ts";
import { circuitStats } from "./circuits.ts";
import { type Counts, readCounts } from "./counters.ts";
import type { Overview, QuotaUse, SeriesPoint } from "./overview-types.ts";
import type { Exec } from "./schema.ts";
import {
  addBucket,
  type Bucket,
  emptyBucket,
  HOUR_MS,
  hoursRolledTo,
  MINUTE_MS,
  percentile,
  readBuckets,
} from "./series.ts";

const DAY_MS = 24 * HOUR_MS;

/**
 * The Free plan's daily allowances the deliver side spends
 * (https://developers.cloudflare.com/kv/platform/limits/,
 * https://developers.cloudflare.com/queues/platform/pricing/,
 * https://developers.cloudflare.com/durable-objects/platform/pricing/), each reset at 00:00 UTC.
 */
export const FREE_PLAN_DAILY = { kvWrites: 1_000, queueOperations: 10_000, ledgerRowsWritten: 100_000 } as const;
/**
 * Queue operations per message handled, estimated: its write, its read and its delete (Queues
 * pricing counts each per 64 KB); ingest's write is counted here with deliver's read and ack.
 */
export const QUEUE_OPERATIONS_PER_MESSAGE = 3;

export function buildOverview(exec: Exec, now: number, settings: AlertSettings): Overview {
  const minute = now - (now % MINUTE_MS);
  const hour = now - (now % HOUR_MS);
  const minutesFrom = minute - 1439 * MINUTE_MS;
  const hoursFrom = hour - 167 * HOUR_MS;
  // Hours not rolled up yet come from their minutes: normally the current one only.
  const rolledTo = Math.max(hoursFrom, Math.min(hoursRolledTo(exec) ?? 0, hour));
  const hours = readBuckets(exec, "series_hours", hoursFrom, rolledTo);
  const recent = readBuckets(exec, "series_minutes", rolledTo, minute + MINUTE_MS);
  const byHour = new Map(hours.map((bucket) => [bucket.at, bucket]));
  for (const bucket of recent) {
    const at = bucket.at - (bucket.at % HOUR_MS);
    const into = byHour.get(at) ?? emptyBucket(at);
    addBucket(into, bucket);
    byHour.set(at, into);
  }
  // Latency and answers over the last 24 hours in whole hours (from the start of the hour 23 hours
  // ago): 24 hour rows' histograms merged, not 1,440 minutes'.
  const day = emptyBucket(hour - 23 * HOUR_MS);
  for (const bucket of byHour.values()) if (bucket.at >= day.at) addBucket(day, bucket);
  const quotas = quotasOf([...hours, ...recent], now);
  const counts = readCounts(exec);
  const inputs = alertInputs(exec, counts, quotas);
  return {
    now,
    perMinute: pointsOf(readPoints(exec, minutesFrom, minute + MINUTE_MS), minutesFrom, 1440, MINUTE_MS),
    perHour: pointsOf(byHour, hoursFrom, 168, HOUR_MS),
    latency: { p50Ms: percentile(day.latency, 0.5), p99Ms: percentile(day.latency, 0.99) },
    answers: {
      ok: day.counts.ok,
      throttled: day.counts.throttled,
      server_error: day.counts.server_error,
      refused: day.counts.refused,
      no_answer: day.counts.no_answer,
    },
    backlog: {
      waiting: (counts.states.queued ?? 0) + (counts.states.retrying ?? 0),
      oldestAcceptedAt: inputs.oldestWaitingAcceptedAt,
    },
    deadLetters: Object.entries(counts.deadLetters.byReason)
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
    quotas: inputs.quotas,
    alerts: firingAlerts(exec, inputs, settings, now),
    circuits: circuitStats(exec),
  };
}

/** What the alerts are judged on, for the Cron's evaluation: the same reads as the overview's, less the charts. */
export function readAlertInputs(exec: Exec, now: number): AlertInputs {
  const hour = now - (now % HOUR_MS);
  const dayStart = now - (now % DAY_MS);
  const rolledTo = Math.max(dayStart, Math.min(hoursRolledTo(exec) ?? 0, hour));
  const buckets = [
    ...readBuckets(exec, "series_hours", dayStart, rolledTo),
    ...readBuckets(exec, "series_minutes", rolledTo, now + MINUTE_MS),
  ];
  return alertInputs(exec, readCounts(exec), quotasOf(buckets, now));
}

/** What the alarm's schedule is judged on after each call (alerts.ts, nextAlertAt): two rows read, no series. */
export function readWatchedAlertInputs(exec: Exec): AlertInputs {
  return alertInputs(exec, readCounts(exec), []);
}

function alertInputs(exec: Exec, counts: Counts, quotas: QuotaUse[]): AlertInputs {
  const oldest = exec<{ accepted_at: number }>(
    `SELECT accepted_at FROM notes INDEXED BY notes_retrying
       WHERE state = 'retrying' AND accepted_at IS NOT NULL ORDER BY accepted_at LIMIT 1`,
  ).rows[0];
  return {
    deadLetterReasons: counts.deadLetters.byReason,
    oldestWaitingAcceptedAt: oldest?.accepted_at ?? null,
    quotas,
  };
}

/** Today's (UTC) use of each daily allowance, from disjoint buckets: the hours rolled up, the minutes after them. */
function quotasOf(buckets: Bucket[], now: number): QuotaUse[] {
  const today = emptyBucket(now - (now % DAY_MS));
  for (const bucket of buckets) if (bucket.at >= today.at) addBucket(today, bucket);
  const { kv_writes, messages, rows_written } = today.counts;
  return [
    { name: "KV writes", used: kv_writes, limit: FREE_PLAN_DAILY.kvWrites },
    {
      name: "Queues operations (estimated)",
      used: messages * QUEUE_OPERATIONS_PER_MESSAGE,
      limit: FREE_PLAN_DAILY.queueOperations,
    },
    { name: "ledger rows written", used: rows_written, limit: FREE_PLAN_DAILY.ledgerRowsWritten },
  ];
}

/** The chart's counts of the minutes with `from <= at < to`: five columns, no histogram. */
function readPoints(exec: Exec, from: number, to: number): Map<number, SeriesPoint> {
  const rows = exec<SeriesPoint & Record<string, number>>(
    "SELECT at, accepted, sent, delivered, failed FROM series_minutes WHERE at >= ? AND at < ?",
    from,
    to,
  ).rows;
  return new Map(rows.map((row) => [row.at, row]));
}

/** `n` points of `step` from `from`, the buckets' counts where they exist, zeros elsewhere. */
function pointsOf(
  byAt: ReadonlyMap<number, SeriesPoint | Bucket>,
  from: number,
  n: number,
  step: number,
): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (let i = 0; i < n; i++) {
    const at = from + i * step;
    const found = byAt.get(at);
    const counts = found === undefined ? undefined : "counts" in found ? found.counts : found;
    points.push({
      at,
      accepted: counts?.accepted ?? 0,
      sent: counts?.sent ?? 0,
      delivered: counts?.delivered ?? 0,
      failed: counts?.failed ?? 0,
    });
  }
  return points;
}
