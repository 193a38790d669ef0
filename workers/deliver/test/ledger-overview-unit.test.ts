/**
 * The ops overview's data, from the ledger: the per-minute buckets after known batches (counts,
 * provider answers by class, latency percentiles), the hourly roll-up, pruning past 7 days, and
 * each alert's trigger, its once-an-hour limit and its recovery, on a clock the test sets.
 */

import { runInDurableObject } from "cloudflare:test";
import type { DeliveryErrorCode } from "@notepipe/pipeline";
import { beforeEach, describe, expect, it } from "vitest";
import type { AlertKind, AlertNotice } from "../src/ledger/alerts.ts";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { bucketMiddle, HOUR_MS, latencyBucket, MINUTE_MS } from "../src/ledger/series.ts";
import type { NoteOutcome } from "../src/ledger/types.ts";
import { isAmbiguous } from "../src/queue/outcomes.ts";
import { claimOf, ledger } from "./ledger.ts";
import { makeNote, type TestNote } from "./notes.ts";

const DAY_MS = 24 * HOUR_MS;
/** A Thursday, 10:30:15 UTC: far from any test's real clock, and mid-hour. */
const T0 = Date.UTC(2030, 0, 3, 10, 30, 15);

function sql<T>(query: string, ...bindings: unknown[]): Promise<T[]> {
  return runInDurableObject(
    ledger(),
    (_instance: DeliveryLedger, state) => state.storage.sql.exec(query, ...bindings).toArray() as T[],
  );
}

/** Sets the ledger's clock (its `now()`, as the ledger soak does) to `ms`. */
async function clockAt(ms: number): Promise<void> {
  await runInDurableObject(ledger(), (instance: DeliveryLedger) => {
    Object.assign(instance, { now: () => ms });
  });
}

/** Each test starts from an empty ledger: its counts and series are the test's alone. */
beforeEach(async () => {
  for (const table of ["notes", "requests", "series_minutes", "series_hours", "alerts", "circuits"]) {
    await sql(`DELETE FROM ${table}`).catch(() => undefined);
  }
  await sql("UPDATE counters SET counts = '{}'");
  await sql("DELETE FROM meta WHERE key = 'series_hours_to'");
});

const iso = (ms: number) => new Date(ms).toISOString();

/** Claims `notes` (each accepted `ago[i]` ms before `at`) in one request; answers its key. */
async function claimAt(at: number, notes: TestNote[], ago: number[], holder = "h"): Promise<string> {
  await clockAt(at);
  const input = claimOf(holder, notes);
  input.notes = input.notes.map((note, i) => ({ ...note, acceptedAt: at - (ago[i] ?? 0) }));
  await ledger().claim(input);
  return input.newKey;
}

function sent(id: string, key: string, at: number): NoteOutcome {
  return { id, key, record: { id, state: "sent", attempts: 1, updatedAt: iso(at), providerId: `re_${id}` } };
}

function retrying(id: string, key: string, at: number, code: DeliveryErrorCode): NoteOutcome {
  return {
    id,
    key,
    record: {
      id,
      state: "retrying",
      attempts: 1,
      updatedAt: iso(at),
      nextAttemptAt: iso(at + 60_000),
      error: `failed: ${code}`,
      errorCode: code,
      firstFailureAt: iso(at),
    },
    ambiguous: isAmbiguous(code),
  };
}

function rejected(id: string, key: string, at: number, code: DeliveryErrorCode = "rejected"): NoteOutcome {
  const error = `refused: ${code}`;
  return {
    id,
    key,
    record: { id, state: "failed", attempts: 1, updatedAt: iso(at), error, errorCode: code, firstFailureAt: iso(at) },
    deadLetter: { reason: code, message: error, possiblySent: code === "possibly_sent" },
  };
}

/** A batch of `notes` sent in one request at `at`, each answered as `answer` says. */
async function batch(
  at: number,
  notes: TestNote[],
  ago: number[],
  answer: (id: string, key: string) => NoteOutcome,
  written: string[] = [],
): Promise<void> {
  const key = await claimAt(at, notes, ago);
  await ledger().settle({ holder: "h", outcomes: notes.map((note) => answer(note.id, key)), written });
}

function minuteOf(ms: number): number {
  return ms - (ms % MINUTE_MS);
}

describe("the series", () => {
  it("counts each minute's notes, answers by class and latency after known batches", async () => {
    const [a, b, c, d] = [makeNote(), makeNote(), makeNote(), makeNote()];
    const key = await claimAt(T0, [a, b, c, d], [1_000, 2_000, 4_000, 60_000]);
    await ledger().settle({
      holder: "h",
      outcomes: [sent(a.id, key, T0), sent(b.id, key, T0), sent(c.id, key, T0), rejected(d.id, key, T0)],
      written: [a.id, b.id, c.id, d.id],
    });
    await batch(T0, [makeNote(), makeNote()], [0, 0], (id, k) => retrying(id, k, T0, "rate_limited"));
    await batch(T0, [makeNote()], [0], (id, k) => retrying(id, k, T0, "timeout"));
    await batch(T0, [makeNote()], [0], (id, k) => retrying(id, k, T0, "provider_unavailable"));
    await batch(T0, [makeNote()], [0], (id, k) => retrying(id, k, T0, "sender_not_verified"));
    const event = await ledger().applyEvent({ noteId: a.id, state: "delivered", eventId: "evt-a" });
    if (event.kind === "applied") await ledger().synced([{ id: a.id, version: event.version }]);

    const overview = await ledger().overview();

    expect(overview.now).toBe(T0);
    expect(overview.perMinute).toHaveLength(1440);
    expect(overview.perMinute[0]?.at).toBe(minuteOf(T0) - 1439 * MINUTE_MS);
    expect(overview.perMinute.at(-1)).toEqual({
      at: minuteOf(T0),
      accepted: 9,
      sent: 3,
      delivered: 1,
      failed: 1,
      // Every other minute is there, as zeros.
    });
    expect(overview.perMinute.slice(0, -1).every((p) => p.accepted + p.sent + p.delivered + p.failed === 0)).toBe(true);
    expect(overview.perHour).toHaveLength(168);
    expect(overview.perHour.at(-1)).toEqual({
      at: T0 - (T0 % HOUR_MS),
      accepted: 9,
      sent: 3,
      delivered: 1,
      failed: 1,
    });
    // One answer per request: the first batch's 2xx refused one email and took three.
    expect(overview.answers).toEqual({ ok: 1, throttled: 1, server_error: 1, refused: 1, no_answer: 1 });
    // 1 s, 2 s and 4 s from accepted to sent: the median 2 s, the 99th 4 s, each as its bucket's middle.
    expect(overview.latency).toEqual({
      p50Ms: bucketMiddle(latencyBucket(2_000)),
      p99Ms: bucketMiddle(latencyBucket(4_000)),
    });
    expect(Math.abs((overview.latency.p50Ms ?? 0) - 2_000) / 2_000).toBeLessThan(0.045);
    expect(Math.abs((overview.latency.p99Ms ?? 0) - 4_000) / 4_000).toBeLessThan(0.045);
    expect(overview.backlog).toEqual({ waiting: 5, oldestAcceptedAt: T0 });
    expect(overview.deadLetters).toEqual([{ reason: "rejected", count: 1 }]);
    // KV writes: the four written before settle, and the delivered record after the webhook.
    expect(overview.quotas.find((quota) => quota.name === "KV writes")).toEqual({
      name: "KV writes",
      used: 5,
      limit: 1_000,
    });
    // 9 messages, ~3 queue operations each.
    expect(overview.quotas.find((quota) => quota.name.startsWith("Queues"))?.used).toBe(27);
    const [row] = await sql<{ rows_written: number }>(
      "SELECT rows_written FROM series_minutes WHERE at = ?",
      minuteOf(T0),
    );
    expect(overview.quotas.find((quota) => quota.name === "ledger rows written")?.used).toBe(row?.rows_written);
    expect(row?.rows_written).toBeGreaterThan(0);
  });

  it("rolls whole hours up at prune, and the week's chart reads them", async () => {
    await batch(T0, [makeNote(), makeNote()], [500, 500], (id, k) => sent(id, k, T0));
    await batch(T0 + 20 * MINUTE_MS, [makeNote()], [500], (id, k) => sent(id, k, T0 + 20 * MINUTE_MS));

    await clockAt(T0 + HOUR_MS);
    await ledger().prune();

    const hour = T0 - (T0 % HOUR_MS);
    expect(await sql("SELECT at, accepted, sent, ok FROM series_hours")).toEqual([
      { at: hour, accepted: 3, sent: 3, ok: 2 },
    ]);
    const overview = await ledger().overview();
    expect(overview.perHour.find((point) => point.at === hour)).toEqual({
      at: hour,
      accepted: 3,
      sent: 3,
      delivered: 0,
      failed: 0,
    });
    expect(overview.perHour.reduce((sum, point) => sum + point.sent, 0)).toBe(3);
  });

  it("prunes minutes and hours past 7 days", async () => {
    await batch(T0, [makeNote()], [500], (id, k) => sent(id, k, T0));
    await batch(T0 + 2 * DAY_MS, [makeNote()], [500], (id, k) => sent(id, k, T0 + 2 * DAY_MS));
    await clockAt(T0 + 2 * DAY_MS + HOUR_MS);
    await ledger().prune();
    expect(await sql("SELECT count(*) AS n FROM series_hours")).toEqual([{ n: 2 }]);

    await clockAt(T0 + 7 * DAY_MS + 2 * HOUR_MS);
    await ledger().prune();

    // The first day's minute and hour are gone; the third day's stay (and the prunes' own rows written).
    const sentIn = (table: string) => sql(`SELECT at FROM ${table} WHERE sent > 0`);
    expect(await sentIn("series_minutes")).toEqual([{ at: minuteOf(T0 + 2 * DAY_MS) }]);
    expect(await sentIn("series_hours")).toEqual([{ at: T0 + 2 * DAY_MS - (T0 % HOUR_MS) }]);
    const keptFrom = T0 + 7 * DAY_MS + 2 * HOUR_MS - 7 * DAY_MS - HOUR_MS;
    for (const table of ["series_minutes", "series_hours"]) {
      expect(await sql(`SELECT at FROM ${table} WHERE at < ?`, keptFrom)).toEqual([]);
    }
  });
});

/** The alerts due at `ms`, by kind and type. */
async function dueAt(ms: number): Promise<{ notices: AlertNotice[]; at: number }> {
  await clockAt(ms);
  return ledger().dueAlerts();
}

function kinds(notices: AlertNotice[]): string[] {
  return notices.map((notice) => `${notice.type}:${notice.kind}`);
}

/**
 * Asks what is due at `ms` and confirms it was sent, as the Cron does; answers what went of
 * `kind` (a test's notes may fire other kinds on the way).
 */
async function cronAt(ms: number, kind: AlertKind): Promise<string[]> {
  const { notices, at } = await dueAt(ms);
  if (notices.length > 0) await ledger().confirmAlerts(notices, at);
  return kinds(notices.filter((notice) => notice.kind === kind));
}

const SECOND = 1_000;
// wrangler.deliver.toml's defaults, which the tests run with.
const PIPELINE_MS = 900 * SECOND;
const BACKLOG_MS = 1_200 * SECOND;

describe("alerts", () => {
  it("a pipeline-level failure alerts once it has lasted the threshold, at most once an hour, and recovers", async () => {
    const held = makeNote();
    await batch(T0, [held], [0], (id, k) => retrying(id, k, T0, "sender_not_verified"));

    expect(await cronAt(T0 + PIPELINE_MS - SECOND, "pipeline_failure")).toEqual([]);
    // Handed to a run that never confirmed it (killed), it is held for a minute, then handed again.
    const first = await dueAt(T0 + PIPELINE_MS);
    expect(kinds(first.notices.filter((n) => n.kind === "pipeline_failure"))).toEqual(["alert:pipeline_failure"]);
    expect(first.notices[0]?.message).toContain("sender_not_verified");
    expect(
      kinds((await dueAt(T0 + PIPELINE_MS + 30 * SECOND)).notices.filter((n) => n.kind === "pipeline_failure")),
    ).toEqual([]);
    const alertedAt = T0 + PIPELINE_MS + 61 * SECOND;
    expect(await cronAt(alertedAt, "pipeline_failure")).toEqual(["alert:pipeline_failure"]);
    expect(await cronAt(alertedAt + 5 * MINUTE_MS, "pipeline_failure")).toEqual([]);
    const firing = (await ledger().overview()).alerts.filter((alert) => alert.kind === "pipeline_failure");
    expect(firing.map((alert) => [alert.kind, alert.since])).toEqual([["pipeline_failure", T0]]);

    // A request accepted ends it: a recovery.
    const okAt = alertedAt + 10 * MINUTE_MS;
    await batch(okAt, [makeNote()], [0], (id, k) => sent(id, k, okAt));
    expect(await cronAt(okAt + SECOND, "pipeline_failure")).toEqual(["recovery:pipeline_failure"]);
    expect(await cronAt(okAt + 2 * SECOND, "pipeline_failure")).toEqual([]);

    // It comes back at once: past its threshold, but within the hour of the last alert, it waits.
    await batch(okAt + MINUTE_MS, [makeNote()], [0], (id, k) => retrying(id, k, okAt + MINUTE_MS, "auth_failed"));
    expect(await cronAt(okAt + MINUTE_MS + PIPELINE_MS, "pipeline_failure")).toEqual([]);
    expect(await cronAt(alertedAt + HOUR_MS, "pipeline_failure")).toEqual(["alert:pipeline_failure"]);
  });

  it("a note waiting past the threshold alerts, and recovers once it is sent", async () => {
    const late = makeNote();
    const key = await claimAt(T0, [late], [BACKLOG_MS - MINUTE_MS]);
    await ledger().settle({ holder: "h", outcomes: [retrying(late.id, key, T0, "rate_limited")], written: [] });

    expect(await cronAt(T0 + MINUTE_MS - SECOND, "backlog")).toEqual([]);
    expect(await cronAt(T0 + MINUTE_MS, "backlog")).toEqual(["alert:backlog"]);
    expect((await ledger().overview()).backlog).toEqual({ waiting: 1, oldestAcceptedAt: T0 - BACKLOG_MS + MINUTE_MS });

    await batch(T0 + 2 * MINUTE_MS, [late], [BACKLOG_MS], (id, k) => sent(id, k, T0 + 2 * MINUTE_MS));
    expect(await cronAt(T0 + 3 * MINUTE_MS, "backlog")).toEqual(["recovery:backlog"]);
    expect((await ledger().overview()).backlog).toEqual({ waiting: 0, oldestAcceptedAt: null });
  });

  it("a new dead-letter reason alerts; another within the hour waits; a recovery once they are gone", async () => {
    const [first, second] = [makeNote(), makeNote()];
    await batch(T0, [first], [0], (id, k) => rejected(id, k, T0));
    const rejectedAlert = await dueAt(T0 + SECOND);
    expect(kinds(rejectedAlert.notices)).toEqual(["alert:dead_letter_reason"]);
    expect(rejectedAlert.notices[0]?.message).toContain("rejected (1)");
    await ledger().confirmAlerts(rejectedAlert.notices, rejectedAlert.at);
    expect(await cronAt(T0 + 2 * SECOND, "dead_letter_reason")).toEqual([]);

    await batch(T0 + 10 * MINUTE_MS, [second], [0], (id, k) => rejected(id, k, T0 + 10 * MINUTE_MS, "possibly_sent"));
    expect(await cronAt(T0 + 11 * MINUTE_MS, "dead_letter_reason")).toEqual([]);
    const later = await dueAt(T0 + SECOND + HOUR_MS);
    expect(later.notices.map((notice) => notice.reasons)).toEqual([["possibly_sent"]]);
    await ledger().confirmAlerts(later.notices, later.at);

    await clockAt(T0 + 2 * HOUR_MS);
    await ledger().discard(first.id, T0 + 2 * HOUR_MS);
    expect(await cronAt(T0 + 2 * HOUR_MS, "dead_letter_reason")).toEqual([]);
    await ledger().discard(second.id, T0 + 2 * HOUR_MS);
    expect(await cronAt(T0 + 2 * HOUR_MS + SECOND, "dead_letter_reason")).toEqual(["recovery:dead_letter_reason"]);
  });

  it("a daily quota past 80 % alerts, and recovers when the day turns", async () => {
    await clockAt(T0);
    await sql("INSERT INTO series_minutes (at, kv_writes) VALUES (?, 799)", minuteOf(T0) - MINUTE_MS);
    expect(await cronAt(T0, "quota")).toEqual([]);
    await sql("UPDATE series_minutes SET kv_writes = 800 WHERE at = ?", minuteOf(T0) - MINUTE_MS);
    const due = await dueAt(T0 + SECOND);
    expect(kinds(due.notices)).toEqual(["alert:quota"]);
    expect(due.notices[0]?.message).toContain("80 % used for KV writes (800 of 1000)");
    await ledger().confirmAlerts(due.notices, due.at);

    const midnight = T0 - (T0 % DAY_MS) + DAY_MS;
    expect(await cronAt(midnight - SECOND, "quota")).toEqual([]);
    expect(await cronAt(midnight, "quota")).toEqual(["recovery:quota"]);
  });

  it("judges every kind in one call that reads no note but the oldest retrying one", async () => {
    await batch(T0, [makeNote(), makeNote()], [0, 0], (id, k) => retrying(id, k, T0, "rate_limited"));
    const before = (await ledger().usage()).rowsRead;
    await dueAt(T0 + SECOND);
    const read = (await ledger().usage()).rowsRead - before;
    // meta, the series (one minute), counters, alerts, one index entry: not the notes.
    expect(read).toBeLessThan(10);
  });
});
