/**
 * The alerts' conditions and what was said about them, one row per kind in `alerts`: a new
 * dead-letter reason, a pipeline-level failure that lasts, a note waiting too long, a daily quota
 * nearly spent. The ledger decides (here, in one transaction) and sets its alarm for when the next
 * one comes due ({@link nextAlertAt}); the alarm, or the Cron as a backstop, sends what it decided
 * (src/alerts/notify.ts) and confirms it, so an alert cut off on its way goes again once its lease
 * ends rather than never. workers/deliver/README.md, "Alerts".
 */

import type { DeliveryErrorCode } from "@notepipe/pipeline";
import { classOf } from "../queue/outcomes.ts";
import type { FiringAlert, QuotaUse } from "./overview-types.ts";
import type { Exec } from "./schema.ts";
import { answerOf, answersOf, countAnswers, HOUR_MS } from "./series.ts";
import type { NoteOutcome } from "./types.ts";

export const ALERT_KINDS = ["dead_letter_reason", "pipeline_failure", "backlog", "quota"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** At most one alert per kind per hour; a recovery is never held back. */
export const ALERT_EVERY_MS = HOUR_MS;
/** An alert handed to a sender is not handed to another for this long (its POST's timeout and more). */
const SENDING_LEASE_MS = 60_000;

export interface AlertSettings {
  /** A pipeline-level failure alerts once no request has been accepted for this long since it began. */
  pipelineFailureMs: number;
  /** The oldest note waiting to be retried alerts once it was accepted this long ago. */
  backlogMs: number;
  /** A daily quota alerts once this share of it is used (0–1). */
  quotaShare: number;
}

interface AlertRow extends Record<string, SqlStorageValue> {
  kind: AlertKind;
  /** ms: when the condition began (the pipeline failure's first answer; the first run that saw it). */
  began: number | null;
  /** The failure's code; for dead letters, the JSON array of reasons alerted on. */
  detail: string | null;
  /** What was last sent: "alert", "recovery", or null. */
  notified: string | null;
  alerted_at: number | null;
  sending_until: number | null;
}

/** A message the Cron sends. */
export interface AlertNotice {
  kind: AlertKind;
  type: "alert" | "recovery";
  message: string;
  /** Dead-letter reasons this alert names, remembered once it is sent. */
  reasons?: string[];
}

/** What the conditions are judged on: read by the overview (overview.ts) for the same minute. */
export interface AlertInputs {
  deadLetterReasons: Record<string, number>;
  oldestWaitingAcceptedAt: number | null;
  quotas: QuotaUse[];
}

interface Condition {
  firing: boolean;
  since: number;
  /** When a condition not firing yet will fire if nothing changes (a failure's or a note's threshold). */
  firesAt?: number;
  message: string;
  /** Dead letters: reasons not alerted on yet. */
  appeared?: string[];
  /** Dead letters: the reasons alerted on that still have entries. */
  held?: string[];
}

function rowsOf(exec: Exec): Map<AlertKind, AlertRow> {
  return new Map(exec<AlertRow>("SELECT * FROM alerts").rows.map((row) => [row.kind, row]));
}

function blank(kind: AlertKind): AlertRow {
  return { kind, began: null, detail: null, notified: null, alerted_at: null, sending_until: null };
}

function write(exec: Exec, row: AlertRow): void {
  exec(
    "INSERT OR REPLACE INTO alerts (kind, began, detail, notified, alerted_at, sending_until) VALUES (?, ?, ?, ?, ?, ?)",
    row.kind,
    row.began,
    row.detail,
    row.notified,
    row.alerted_at,
    row.sending_until,
  );
}

/** A settle's answers: counted in the minute's series, and followed for the pipeline-failure alert. */
export function recordAnswers(exec: Exec, outcomes: readonly NoteOutcome[], now: number): void {
  countAnswers(outcomes);
  trackPipelineFailure(exec, outcomes, now);
}

/**
 * A settle's answers, once per request: a pipeline-level refusal (key, sender, quota) begins a
 * failure if none is under way; an accepted request ends it. Reads one row; writes only when the
 * failure begins, changes its code or ends.
 */
export function trackPipelineFailure(exec: Exec, outcomes: readonly NoteOutcome[], now: number): void {
  let row: AlertRow | null = null;
  for (const outcome of answersOf(outcomes)) {
    const code = outcome.record.errorCode as DeliveryErrorCode | undefined;
    const pipeline = outcome.record.state !== "sent" && code !== undefined && classOf(code) === "pipeline";
    if (!pipeline && answerOf(outcome) !== "ok") continue;
    row ??= exec<AlertRow>("SELECT * FROM alerts WHERE kind = 'pipeline_failure'").rows[0] ?? blank("pipeline_failure");
    if (pipeline && (row.began === null || row.detail !== code)) {
      row = { ...row, began: row.began ?? now, detail: code ?? null };
      write(exec, row);
    } else if (!pipeline && row.began !== null) {
      row = { ...row, began: null, detail: null };
      write(exec, row);
    }
  }
}

const percent = (use: QuotaUse) => Math.floor((100 * use.used) / use.limit);

/** Each kind's condition now. */
function conditionsOf(
  rows: Map<AlertKind, AlertRow>,
  inputs: AlertInputs,
  settings: AlertSettings,
  now: number,
): Record<AlertKind, Condition> {
  const pipeline = rows.get("pipeline_failure");
  const pipelineSince = pipeline?.began ?? null;
  const oldest = inputs.oldestWaitingAcceptedAt;
  const overQuota = inputs.quotas.filter((use) => use.used >= settings.quotaShare * use.limit);
  const present = Object.keys(inputs.deadLetterReasons).filter((reason) => (inputs.deadLetterReasons[reason] ?? 0) > 0);
  const known = JSON.parse(rows.get("dead_letter_reason")?.detail ?? "[]") as string[];
  const appeared = present.filter((reason) => !known.includes(reason));
  const held = known.filter((reason) => present.includes(reason));
  const letters = (reasons: string[]) =>
    reasons.map((reason) => `${reason} (${inputs.deadLetterReasons[reason] ?? 0})`).join(", ");
  return {
    dead_letter_reason: {
      firing: appeared.length > 0 || held.length > 0,
      since: rows.get("dead_letter_reason")?.began ?? now,
      message:
        appeared.length > 0
          ? `New dead-letter reason: ${letters(appeared)}. Replay or discard them in the ops console.`
          : held.length > 0
            ? `Dead letters remain: ${letters(held)}.`
            : "The dead letters of the reasons alerted on are gone (replayed, discarded or expired).",
      appeared,
      held,
    },
    pipeline_failure: {
      firing: pipelineSince !== null && now - pipelineSince >= settings.pipelineFailureMs,
      since: pipelineSince ?? now,
      ...(pipelineSince === null ? {} : { firesAt: pipelineSince + settings.pipelineFailureMs }),
      message:
        pipelineSince === null
          ? "The mail provider accepts requests again."
          : `The mail provider has refused every request since ${iso(pipelineSince)} (${pipeline?.detail}): notes wait, none is dead-lettered; fix the cause (workers/deliver/README.md, "Outcomes").`,
    },
    backlog: {
      firing: oldest !== null && now - oldest >= settings.backlogMs,
      since: oldest === null ? now : oldest + settings.backlogMs,
      ...(oldest === null ? {} : { firesAt: oldest + settings.backlogMs }),
      message:
        oldest === null || now - oldest < settings.backlogMs
          ? "No note has waited too long any more."
          : `The oldest note waiting to be sent was accepted at ${iso(oldest)}, ${Math.floor((now - oldest) / 60_000)} minutes ago.`,
    },
    quota: {
      firing: overQuota.length > 0,
      since: rows.get("quota")?.began ?? now,
      message:
        overQuota.length > 0
          ? `Today's Free-plan quota is ${overQuota.map((use) => `${percent(use)} % used for ${use.name} (${use.used} of ${use.limit})`).join("; ")}; it resets at 00:00 UTC.`
          : "Every daily quota is below its threshold again.",
    },
  };
}

/** The alerts firing now, for the overview: read, never written. */
export function firingAlerts(exec: Exec, inputs: AlertInputs, settings: AlertSettings, now: number): FiringAlert[] {
  const conditions = conditionsOf(rowsOf(exec), inputs, settings, now);
  return ALERT_KINDS.filter((kind) => conditions[kind].firing).map((kind) => ({
    kind,
    since: conditions[kind].since,
    message: conditions[kind].message,
  }));
}

/**
 * What to send now: an alert for a condition that began (or a new dead-letter reason), at most one
 * per kind an hour; a recovery for one that cleared after its alert. Each is leased to this run
 * until {@link confirmAlerts} says it went out.
 */
export function dueAlerts(exec: Exec, inputs: AlertInputs, settings: AlertSettings, now: number): AlertNotice[] {
  const rows = rowsOf(exec);
  const conditions = conditionsOf(rows, inputs, settings, now);
  const notices: AlertNotice[] = [];
  for (const kind of ALERT_KINDS) {
    const before = rows.get(kind) ?? blank(kind);
    const condition = conditions[kind];
    const row = { ...before };
    // The pipeline failure's start is the settle's to write; the others begin when a run first sees them.
    if (kind !== "pipeline_failure") row.began = condition.firing ? (row.began ?? now) : null;
    if (kind === "dead_letter_reason") row.detail = JSON.stringify(condition.held ?? []);
    const due = dueAt(row, condition, now);
    if (due !== null && due <= now) {
      const notice: AlertNotice = { kind, type: condition.firing ? "alert" : "recovery", message: condition.message };
      if (condition.firing && condition.appeared !== undefined) notice.reasons = condition.appeared;
      notices.push(notice);
      row.sending_until = now + SENDING_LEASE_MS;
    }
    if (JSON.stringify(row) !== JSON.stringify(before)) write(exec, row);
  }
  return notices;
}

/**
 * When a kind has something to send, if nothing changes: now (or past) for an alert or a recovery
 * due, the end of the hour since its last alert, a threshold still ahead; its lease's end while a
 * sender holds it, so that a notice whose sender died goes again. Null: nothing to send.
 */
function dueAt(row: AlertRow, condition: Condition, now: number): number | null {
  if ((row.sending_until ?? 0) > now) return row.sending_until;
  const nextAllowed = (row.alerted_at ?? -Infinity) + ALERT_EVERY_MS;
  const fresh = row.notified !== "alert" || (condition.appeared?.length ?? 0) > 0;
  if (condition.firing) return fresh ? Math.max(now, nextAllowed) : null;
  if (row.notified === "alert") return now;
  return condition.firesAt === undefined ? null : Math.max(condition.firesAt, nextAllowed);
}

/**
 * When the ledger's alarm should next look for alerts to send, judged on the rows and inputs this
 * call read; null when nothing is due or ahead. Quotas are left out: judging them reads the day's
 * series, too dear for every settle, so the Cron's run sees them (at most 5 minutes late).
 */
export function nextAlertAt(
  exec: Exec,
  inputs: Omit<AlertInputs, "quotas">,
  settings: AlertSettings,
  now: number,
): number | null {
  const rows = rowsOf(exec);
  const conditions = conditionsOf(rows, { ...inputs, quotas: [] }, settings, now);
  let next: number | null = null;
  for (const kind of ALERT_KINDS) {
    if (kind === "quota") continue;
    const at = dueAt(rows.get(kind) ?? blank(kind), conditions[kind], now);
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

/** The notices a sender sent at `sentAt` went out: remember them, and free their lease. */
export function confirmAlerts(exec: Exec, notices: readonly AlertNotice[], sentAt: number): void {
  const rows = rowsOf(exec);
  for (const notice of notices) {
    const row = { ...(rows.get(notice.kind) ?? blank(notice.kind)), notified: notice.type, sending_until: null };
    if (notice.type === "alert") row.alerted_at = sentAt;
    if (notice.reasons !== undefined) {
      const known = JSON.parse(row.detail ?? "[]") as string[];
      row.detail = JSON.stringify([...new Set([...known, ...notice.reasons])]);
    }
    write(exec, row);
  }
}

/** The settings from wrangler.deliver.toml's `[vars]`, with their defaults for a value that is not a number. */
export function alertSettingsOf(env: Env): AlertSettings {
  const seconds = (value: unknown, fallback: number) => {
    const n = Number(value);
    return (Number.isFinite(n) && n >= 0 ? n : fallback) * 1000;
  };
  const share = Number(env.ALERT_QUOTA_PERCENT) / 100;
  return {
    pipelineFailureMs: seconds(env.ALERT_PIPELINE_FAILURE_SECONDS, 900),
    backlogMs: seconds(env.ALERT_BACKLOG_SECONDS, 1200),
    quotaShare: Number.isFinite(share) && share > 0 ? share : 0.8,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
