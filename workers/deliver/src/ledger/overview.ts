/**
 * The ops overview in one ledger call (`overview()`, ledger.ts): series, latency, answers,
 * backlog, dead letters, today's quotas and the alerts firing. What it reads, at most: the last 24
 * hours' minute rows twice (their counts, then their latency histograms, merged by SQLite: more
 * only while the Cron's roll-up lags), 168 hour rows, the counters' row, the 4 alert rows and one
 * entry of the retrying index: never a note.
 */

import { type AlertInputs, type AlertSettings, firingAlerts } from "./alerts.ts";
import { type Counts, readCounts } from "./counters.ts";
import type { Overview, QuotaUse, SeriesPoint } from "./overview-types.ts";
import type { Exec } from "./schema.ts";
import {
  addCounts,
  type CountRow,
  emptyCountRow,
  HOUR_MS,
  hoursRolledTo,
  MINUTE_MS,
  percentile,
  readCountRows,
  readLatency,
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
  const minutes = readCountRows(exec, "series_minutes", Math.min(minutesFrom, rolledTo), minute + MINUTE_MS);
  const hours = new Map(readCountRows(exec, "series_hours", hoursFrom, rolledTo).map((row) => [row.at, row]));
  const quotas = quotasOf(minutes, [...hours.values()], rolledTo, now);
  const day = emptyCountRow(minutesFrom);
  for (const row of minutes) {
    if (row.at >= minutesFrom) addCounts(day, row);
    if (row.at < rolledTo) continue;
    const at = row.at - (row.at % HOUR_MS);
    const into = hours.get(at) ?? emptyCountRow(at);
    addCounts(into, row);
    hours.set(at, into);
  }
  const latency = readLatency(exec, minutesFrom, minute + MINUTE_MS);
  const counts = readCounts(exec);
  const inputs = alertInputs(exec, counts, quotas);
  return {
    now,
    perMinute: pointsOf(new Map(minutes.map((row) => [row.at, row])), minutesFrom, 1440, MINUTE_MS),
    perHour: pointsOf(hours, hoursFrom, 168, HOUR_MS),
    latency: { p50Ms: percentile(latency, 0.5), p99Ms: percentile(latency, 0.99) },
    answers: {
      ok: day.ok,
      throttled: day.throttled,
      server_error: day.server_error,
      refused: day.refused,
      no_answer: day.no_answer,
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
  };
}

/** What the alerts are judged on, for the Cron's evaluation: the same reads as the overview's, less the charts. */
export function readAlertInputs(exec: Exec, now: number): AlertInputs {
  const hour = now - (now % HOUR_MS);
  const dayStart = now - (now % DAY_MS);
  const rolledTo = Math.max(dayStart, Math.min(hoursRolledTo(exec) ?? 0, hour));
  const minutes = readCountRows(exec, "series_minutes", rolledTo, now + MINUTE_MS);
  const hours = readCountRows(exec, "series_hours", dayStart, rolledTo);
  return alertInputs(exec, readCounts(exec), quotasOf(minutes, hours, rolledTo, now));
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

/** Today's (UTC) use of each daily allowance: the hours rolled up before `rolledTo`, the minutes from it. */
function quotasOf(minutes: CountRow[], hours: CountRow[], rolledTo: number, now: number): QuotaUse[] {
  const dayStart = now - (now % DAY_MS);
  const today = emptyCountRow(dayStart);
  for (const row of hours) if (row.at >= dayStart && row.at < rolledTo) addCounts(today, row);
  for (const row of minutes) if (row.at >= Math.max(dayStart, rolledTo)) addCounts(today, row);
  return [
    { name: "KV writes", used: today.kv_writes, limit: FREE_PLAN_DAILY.kvWrites },
    {
      name: "Queues operations (estimated)",
      used: today.messages * QUEUE_OPERATIONS_PER_MESSAGE,
      limit: FREE_PLAN_DAILY.queueOperations,
    },
    { name: "ledger rows written", used: today.rows_written, limit: FREE_PLAN_DAILY.ledgerRowsWritten },
  ];
}

/** `n` points of `step` from `from`, the buckets' counts where they exist, zeros elsewhere. */
function pointsOf(byAt: ReadonlyMap<number, CountRow>, from: number, n: number, step: number): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (let i = 0; i < n; i++) {
    const at = from + i * step;
    const counts = byAt.get(at);
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
