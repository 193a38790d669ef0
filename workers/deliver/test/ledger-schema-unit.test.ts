/**
 * The ledger's schema version: an object deployed before the version existed (version 1, today's
 * production objects) wakes with its rows carried over, each note's status record and dead letter
 * as they were, and ends with the same tables a new object gets.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { deadLetterOf, statusRecordOf } from "../src/ledger/notes.ts";
import { CURRENT_SCHEMA_VERSION, ensureSchema, type NoteRow } from "../src/ledger/schema.ts";

/** The ledger's tables as first deployed, with no schema version stored. */
const VERSION_1 = `
CREATE TABLE notes (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, record TEXT,
  version INTEGER NOT NULL DEFAULT 0, kv_version INTEGER NOT NULL DEFAULT 0, request_key TEXT, frame BLOB,
  accepted_at INTEGER, replayed_at INTEGER, replay_token INTEGER, dead INTEGER NOT NULL DEFAULT 0,
  dead_reason TEXT, dead_message TEXT, possibly_sent INTEGER NOT NULL DEFAULT 0, first_failure_at INTEGER,
  last_failure_at INTEGER, event_id TEXT, updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX notes_dead ON notes(id) WHERE dead = 1;
CREATE INDEX notes_behind ON notes(updated_at) WHERE kv_version < version;
CREATE TABLE requests (
  key TEXT PRIMARY KEY, from_json TEXT NOT NULL, subject_json TEXT NOT NULL, note_ids TEXT NOT NULL,
  created_at INTEGER NOT NULL, holder TEXT, lease_until INTEGER NOT NULL, maybe_sent INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

const T = Date.parse("2026-11-02T10:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString();
const SENT = "11111111-1111-4111-8111-111111111111";
const REJECTED = "22222222-2222-4222-8222-222222222222";
const REPLAYING = "33333333-3333-4333-8333-333333333333";
const RETRYING = "44444444-4444-4444-8444-444444444444";
const NO_NOTE_ID = "msg-0042";
const REJECTION = "The mail provider rejected this email. The provider said: Invalid `to` field.";

/** Every table and index as SQLite keeps it, whitespace folded. */
function schemaOf(sql: SqlStorage): string[] {
  return sql
    .exec<{ sql: string }>(
      "SELECT sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND sql IS NOT NULL ORDER BY name",
    )
    .toArray()
    .map((row) => row.sql.replace(/\s+/g, " "));
}

it("carries a version 1 ledger's rows over to today's tables, records and dead letters as they were", async () => {
  const fresh = await runInDurableObject(
    env.LEDGER.getByName(`fresh-${crypto.randomUUID()}`),
    (_instance: DeliveryLedger, state) => schemaOf(state.storage.sql),
  );

  const migrated = await runInDurableObject(
    env.LEDGER.getByName(`version-1-${crypto.randomUUID()}`),
    (_instance: DeliveryLedger, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE notes; DROP TABLE requests; DROP TABLE meta; DROP TABLE counters;");
      sql.exec(VERSION_1);
      const insert = `INSERT INTO notes (id, state, attempts, record, version, kv_version, request_key, frame,
        accepted_at, replayed_at, replay_token, dead, dead_reason, dead_message, possibly_sent, first_failure_at,
        last_failure_at, event_id, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
      const record = (value: object) => JSON.stringify(value);
      sql.exec(
        insert,
        SENT,
        "sent",
        1,
        record({ id: SENT, state: "sent", attempts: 1, updatedAt: at(T + 7), providerId: "re_1" }),
        2,
        2,
        null,
        null,
        T,
        null,
        null,
        0,
        null,
        null,
        0,
        null,
        null,
        null,
        T + 9,
        T + 100,
      );
      sql.exec(
        insert,
        REJECTED,
        "failed",
        2,
        record({
          id: REJECTED,
          state: "failed",
          attempts: 2,
          updatedAt: at(T + 5),
          error: REJECTION,
          errorCode: "rejected",
          firstFailureAt: at(T),
        }),
        1,
        1,
        null,
        new Uint8Array([1, 2, 3]),
        T,
        null,
        null,
        1,
        "rejected",
        REJECTION,
        0,
        T,
        T + 5,
        null,
        T + 6,
        T + 200,
      );
      // A replay cleared the dead letter; its message was claimed before the replay finished.
      sql.exec(
        insert,
        REPLAYING,
        "dead",
        3,
        record({
          id: REPLAYING,
          state: "dead",
          attempts: 3,
          updatedAt: at(T),
          error: "Every retry failed.",
          errorCode: "retries_exhausted",
          firstFailureAt: at(T),
        }),
        3,
        3,
        "key-1",
        new Uint8Array([4]),
        T,
        T + 1,
        null,
        0,
        "retries_exhausted",
        "Every retry failed.",
        0,
        T,
        T,
        null,
        T,
        T + 300,
      );
      sql.exec(
        insert,
        RETRYING,
        "retrying",
        1,
        record({
          id: RETRYING,
          state: "retrying",
          attempts: 1,
          updatedAt: at(T + 3),
          nextAttemptAt: at(T + 60_000),
          error: "The mail provider did not answer in time.",
          errorCode: "timeout",
          firstFailureAt: at(T + 3),
        }),
        1,
        0,
        null,
        null,
        T,
        null,
        null,
        0,
        null,
        null,
        0,
        T + 3,
        null,
        null,
        T + 4,
        T + 400,
      );
      // A discarded entry without a note id: no record, yet its version was bumped.
      sql.exec(
        insert,
        NO_NOTE_ID,
        "failed",
        1,
        null,
        1,
        0,
        null,
        null,
        null,
        null,
        null,
        0,
        "undecodable",
        "The queued message does not hold a valid frame.",
        0,
        T,
        T,
        null,
        T,
        T + 500,
      );

      ensureSchema(state.storage);

      const rows = sql.exec<NoteRow>("SELECT * FROM notes ORDER BY id").toArray();
      const version = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value;
      return { rows, version, schema: schemaOf(sql) };
    },
  );

  expect(migrated.version).toBe(CURRENT_SCHEMA_VERSION);
  expect(migrated.schema).toEqual(fresh);
  const row = (id: string) => migrated.rows.find((candidate) => candidate.id === id) as NoteRow;
  expect(statusRecordOf(row(SENT))).toEqual({
    id: SENT,
    state: "sent",
    attempts: 1,
    updatedAt: at(T + 7),
    providerId: "re_1",
  });
  expect(statusRecordOf(row(REJECTED))).toEqual({
    id: REJECTED,
    state: "failed",
    attempts: 2,
    updatedAt: at(T + 5),
    error: REJECTION,
    errorCode: "rejected",
    firstFailureAt: at(T),
  });
  expect(deadLetterOf(row(REJECTED))).toEqual({
    id: REJECTED,
    frame: "AQID",
    reason: "rejected",
    message: REJECTION,
    attempts: 2,
    firstFailureAt: at(T),
    lastFailureAt: at(T + 5),
    possiblySent: false,
    acceptedAt: T,
  });
  expect(statusRecordOf(row(RETRYING))).toEqual({
    id: RETRYING,
    state: "retrying",
    attempts: 1,
    updatedAt: at(T + 3),
    nextAttemptAt: at(T + 60_000),
    error: "The mail provider did not answer in time.",
    errorCode: "timeout",
    firstFailureAt: at(T + 3),
  });
  expect(row(RETRYING)).toMatchObject({ version: 1, kv_version: 0 });
  // No longer a dead letter and not yet sent: queued, with a record KV does not hold yet.
  expect(row(REPLAYING)).toMatchObject({
    state: "queued",
    dead_letter: 0,
    request_key: "key-1",
    version: 4,
    kv_version: 3,
  });
  expect(statusRecordOf(row(REPLAYING))).toEqual({ id: REPLAYING, state: "queued", attempts: 3, updatedAt: at(T) });
  expect(row(NO_NOTE_ID)).toMatchObject({ version: 1, kv_version: 1, dead_letter: 0 });
  expect(statusRecordOf(row(NO_NOTE_ID))).toBeNull();
});
