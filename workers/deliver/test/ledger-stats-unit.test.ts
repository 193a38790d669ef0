/**
 * The ledger's `stats` and the cost of every query it makes: the counts come from counters kept in
 * the same transactions as the notes they count, and match a count of the rows themselves after a
 * mixed day's work; no query the object makes during that work scans the notes.
 */

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { ensureSchema } from "../src/ledger/schema.ts";
import { claimOf, envWith, faultyKv, ledger } from "./ledger.ts";
import { makeNote, makeNotes, messageOf, mockProvider, resendAccepted, resendError, runQueue } from "./notes.ts";
import { deadLetterAfterRetries, deadLetterAsPossiblySent, deadLetterAsRejected } from "./ops.ts";

/** What `stats` should answer, counted from the rows as the ledger first counted them: by scans. */
function groundTruth(sql: SqlStorage) {
  const rows = <T>(query: string) => sql.exec(query).toArray() as T[];
  const states = Object.fromEntries(
    rows<{ state: string; n: number }>(
      "SELECT state, count(*) AS n FROM notes WHERE id NOT LIKE 'msg-%' GROUP BY state",
    ).map((row) => [row.state, row.n]),
  );
  const byReason = Object.fromEntries(
    rows<{ reason: string; n: number }>(
      "SELECT COALESCE(error_code, 'retries_exhausted') AS reason, count(*) AS n FROM notes WHERE dead_letter = 1 GROUP BY 1",
    ).map((row) => [row.reason, row.n]),
  );
  const count = (query: string) => rows<{ n: number }>(query)[0]?.n ?? 0;
  return {
    states,
    records: Object.values(states).reduce((sum, n) => sum + n, 0),
    deadLetters: {
      total: Object.values(byReason).reduce((sum, n) => sum + n, 0),
      byReason,
      possiblySent: count("SELECT count(*) AS n FROM notes WHERE dead_letter = 1 AND possibly_sent = 1"),
    },
    behind: count("SELECT count(*) AS n FROM notes WHERE kv_version < version"),
  };
}

/**
 * A day of the ledger's work, every RPC method at least once: notes sent, retried, refused,
 * possibly sent, dead-lettered after their retries, a message without a frame, KV refusing
 * writes, delivery webhooks, a replay, a discard, a note healed of a lost request, the repair,
 * and a prune with its alarm.
 */
async function mixedDay(): Promise<void> {
  mockProvider(resendAccepted);
  const sent = makeNotes(5);
  await runQueue(
    "notes",
    sent.map((note) => messageOf(note)),
  );
  const retried = makeNote();
  mockProvider(resendError(500, "application_error", "Something went wrong."));
  await runQueue("notes", [messageOf(retried)]);
  await deadLetterAsRejected(makeNotes(2));
  await deadLetterAsPossiblySent([makeNote()]);
  const dead = makeNotes(2);
  await deadLetterAfterRetries(dead);
  await runQueue("notes", [{ id: "no-frame", timestamp: new Date(), attempts: 1, body: { frame: "nope" } }]);

  // KV refuses every write: the records stay behind for the repair.
  const kvDown = envWith({ STATUS: faultyKv(env.STATUS, { ops: new Set(["put"]) }) });
  mockProvider(resendAccepted);
  const behind = makeNotes(3);
  await runQueue(
    "notes",
    behind.map((note) => messageOf(note)),
    kvDown,
  );

  for (const note of sent.slice(0, 3)) {
    const outcome = await ledger().applyEvent({ noteId: note.id, state: "delivered", eventId: `evt-${note.id}` });
    if (outcome.kind === "applied") await ledger().synced([{ id: note.id, version: outcome.version }]);
  }
  await ledger().applyEvent({ noteId: sent[3]?.id ?? "", state: "bounced", eventId: "evt-bounce" });

  const [replayed, discarded] = dead as [(typeof dead)[0], (typeof dead)[0]];
  const token = Date.now();
  await ledger().beginReplay([replayed.id], token, false);
  await ledger().finishReplay([replayed.id], token);
  await ledger().discard(discarded.id);
  await ledger().listDeadLetters({ limit: 10 });
  await ledger().listDeadLetters({ limit: 10, reason: "rejected", since: 0, after: "" });

  // A request row gone while it holds a note (no transaction leaves it so): the next claim heals the note.
  const orphan = makeNote();
  const { sends } = await ledger().claim(claimOf("invocation-1", [orphan]));
  await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("DELETE FROM requests WHERE key = ?", sends[0]?.key ?? "");
  });
  await ledger().claim(claimOf("invocation-2", [orphan]));

  await ledger().behind(200, 0);
  await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("UPDATE notes SET expires_at = 0 WHERE id = ?", sent[4]?.id ?? "");
  });
  await ledger().prune();
  await runDurableObjectAlarm(ledger());
  await ledger().stats();
}

describe("stats", () => {
  it("counts exactly what the rows say after a mixed day, without reading them", async () => {
    await mixedDay();

    const { usage: _, unanswered: __, circuits: _circuits, ...stats } = await ledger().stats();
    const truth = await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) =>
      groundTruth(state.storage.sql),
    );
    expect(stats).toEqual(truth);
    expect(truth.behind).toBeGreaterThan(0);
    expect(truth.deadLetters.possiblySent).toBeGreaterThan(0);
  });

  it("counts a ledger's existing rows once, when schema 4 first wakes it", async () => {
    await mixedDay();
    const { usage: _, unanswered: __, circuits: _before, ...before } = await ledger().stats();

    const { migrated, truth } = await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      // As the object was before version 4: no counters.
      state.storage.sql.exec("DROP TABLE counters");
      state.storage.sql.exec("ALTER TABLE notes DROP COLUMN timeline"); // added by version 5
      // Added by version 6.
      state.storage.sql.exec("DROP TABLE circuits; ALTER TABLE requests DROP COLUMN provider");
      // Added by version 7.
      state.storage.sql.exec("DROP TABLE series_minutes; DROP TABLE series_hours; DROP TABLE alerts");
      state.storage.sql.exec("DROP INDEX notes_retrying");
      state.storage.sql.exec("UPDATE meta SET value = 3 WHERE key = 'schema_version'");
      ensureSchema(state.storage);
      const counts = JSON.parse(state.storage.sql.exec<{ counts: string }>("SELECT counts FROM counters").one().counts);
      return { migrated: counts as Record<string, number>, truth: groundTruth(state.storage.sql) };
    });
    const { usage: ___, unanswered: ____, circuits: _after, ...after } = await ledger().stats();

    expect(after).toEqual(truth);
    expect(after).toEqual(before);
    expect(migrated.behind).toBe(truth.behind);
  });
});

/**
 * Tables that may be scanned: `counters` (one row), `meta` (the schema
 * version), `requests` (only the requests in flight or unanswered: a few batches' worth),
 * `alerts` (one row per alert kind, 4), `circuits` (one row per listed provider).
 */
const SMALL_TABLES = new Set(["counters", "meta", "requests", "alerts", "circuits"]);

describe("every query the ledger makes", () => {
  it("reads the notes through a key or an index, never by a scan", async () => {
    const queries = new Set<string>();
    await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
      // Every query of the ledger goes through this one object's exec (metering.ts).
      const sql = state.storage.sql;
      const exec = sql.exec.bind(sql);
      sql.exec = ((query: string, ...bindings: unknown[]) => {
        queries.add(query);
        return exec(query, ...bindings);
      }) as SqlStorage["exec"];
    });
    await mixedDay();

    const plans = await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) =>
      [...queries].map((query) => {
        const bindings = Array.from({ length: query.split("?").length - 1 }, () => null);
        const steps = state.storage.sql
          .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${query}`, ...bindings)
          .toArray()
          .map((row) => row.detail);
        return { query: query.replace(/\s+/g, " ").slice(0, 120), steps };
      }),
    );
    const scans = plans.flatMap(({ query, steps }) =>
      steps
        .filter((step) => /^SCAN /.test(step) && !SMALL_TABLES.has(step.split(" ")[1] ?? ""))
        // The partial index of records KV is behind on holds only those: `behind` reads its page.
        .filter((step) => step !== "SCAN notes USING INDEX notes_behind")
        .map((step) => `${step} in: ${query}`),
    );
    expect(plans.length).toBeGreaterThanOrEqual(20);
    expect(scans).toEqual([]);
  });
});
