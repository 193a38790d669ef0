/**
 * What the ledger tells the ops console's overview page in one call: its series, latency, provider
 * answers, backlog, dead letters, quotas, the alerts now firing and the providers' circuits. The
 * ledger builds it (`overview()`), the console only draws it, so a page costs one ledger request.
 */

import type { CircuitStat } from "./types.ts";

/** How a provider answered a request, as the console counts it. */
export type AnswerClass = "ok" | "throttled" | "server_error" | "refused" | "no_answer";

export const ANSWER_CLASSES: readonly AnswerClass[] = ["ok", "throttled", "server_error", "refused", "no_answer"];

/** One bucket of a series: notes that reached each state within it. */
export interface SeriesPoint {
  /** ms: the bucket's start (a whole UTC minute or hour). */
  at: number;
  accepted: number;
  sent: number;
  delivered: number;
  failed: number;
}

/** A Free-plan daily allowance and how much of it today (UTC) has used so far. */
export interface QuotaUse {
  name: string;
  used: number;
  limit: number;
}

/** An alert that is firing now. */
export interface FiringAlert {
  kind: string;
  /** ms: when it started. */
  since: number;
  message: string;
}

export interface Overview {
  /** ms: when the overview was built. */
  now: number;
  /** The last 24 hours, one point per minute, oldest first, empty minutes as zeros. */
  perMinute: SeriesPoint[];
  /** The last 7 days, one point per hour, oldest first, empty hours as zeros. */
  perHour: SeriesPoint[];
  /** Time from accepted to sent over the last 24 hours; null when nothing was sent. */
  latency: { p50Ms: number | null; p99Ms: number | null };
  /** Provider answers over the last 24 hours, by class. */
  answers: Record<AnswerClass, number>;
  /** Notes still waiting to be sent, and since when the oldest has waited (ms; null when none). */
  backlog: { waiting: number; oldestAcceptedAt: number | null };
  /** Dead letters kept now, by reason, largest first. */
  deadLetters: { reason: string; count: number }[];
  quotas: QuotaUse[];
  alerts: FiringAlert[];
  /**
   * Each provider's circuit as `GET /ops/stats` answers it (failover), by name; empty while no
   * claim has routed through a second provider. Optional so that an overview made without it (a
   * stand-in's) still is one.
   */
  circuits?: CircuitStat[];
}
