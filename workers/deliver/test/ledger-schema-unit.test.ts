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

/** A version 1 note row: the columns a test sets, the others left to their defaults (NULL or 0). */
interface V1Row {
  id: string;
  state: string;
  attempts: number;
  record?: string;
  version: number;
  kv_version: number;
  request_key?: string;
  frame?: Uint8Array;
  accepted_at?: number;
  replayed_at?: number;
  dead?: number;
  dead_reason?: string;
  dead_message?: string;
  first_failure_at?: number;
  last_failure_at?: number;
  updated_at: number;
  expires_at: number;
}

const T = Date.parse("2026-11-02T10:00:00.000Z");
const at = (ms: number) => new Date(ms).toISOString();
const SENT = "11111111-1111-4111-8111-111111111111";
const REJECTED = "22222222-2222-4222-8222-222222222222";
const REPLAYING = "33333333-3333-4333-8333-333333333333";
const RETRYING = "44444444-4444-4444-8444-444444444444";
const NO_NOTE_ID = "msg-0042";
const REJECTION = "The mail provider rejected this email. The provider said: Invalid `to` field.";

/** The status records of version 1 rows, which must come back from the columns as they were. */
const SENT_RECORD = { id: SENT, state: "sent", attempts: 1, updatedAt: at(T + 7), providerId: "re_1" };
const REJECTED_RECORD = {
  id: REJECTED,
  state: "failed",
  attempts: 2,
  updatedAt: at(T + 5),
  error: REJECTION,
  errorCode: "rejected",
  firstFailureAt: at(T),
};
const RETRYING_RECORD = {
  id: RETRYING,
  state: "retrying",
  attempts: 1,
  updatedAt: at(T + 3),
  nextAttemptAt: at(T + 60_000),
  error: "The mail provider did not answer in time.",
  errorCode: "timeout",
  firstFailureAt: at(T + 3),
};

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
      // A version 1 object had none of today's tables (the runtime's own `_cf_` ones stay).
      const tables = sql.exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
      );
      for (const { name } of tables.toArray()) sql.exec(`DROP TABLE ${name}`);
      sql.exec(VERSION_1);
      const insert = (row: V1Row) => {
        const columns = Object.keys(row);
        sql.exec(
          `INSERT INTO notes (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
          ...Object.values(row),
        );
      };
      insert({
        id: SENT,
        state: "sent",
        attempts: 1,
        record: JSON.stringify(SENT_RECORD),
        version: 2,
        kv_version: 2,
        accepted_at: T,
        updated_at: T + 9,
        expires_at: T + 100,
      });
      insert({
        id: REJECTED,
        state: "failed",
        attempts: 2,
        record: JSON.stringify(REJECTED_RECORD),
        version: 1,
        kv_version: 1,
        frame: new Uint8Array([1, 2, 3]),
        accepted_at: T,
        dead: 1,
        dead_reason: "rejected",
        dead_message: REJECTION,
        first_failure_at: T,
        last_failure_at: T + 5,
        updated_at: T + 6,
        expires_at: T + 200,
      });
      // A replay cleared the dead letter; its message was claimed before the replay finished.
      insert({
        id: REPLAYING,
        state: "dead",
        attempts: 3,
        record: JSON.stringify({
          id: REPLAYING,
          state: "dead",
          attempts: 3,
          updatedAt: at(T),
          error: "Every retry failed.",
          errorCode: "retries_exhausted",
          firstFailureAt: at(T),
        }),
        version: 3,
        kv_version: 3,
        request_key: "key-1",
        frame: new Uint8Array([4]),
        accepted_at: T,
        replayed_at: T + 1,
        dead: 0,
        dead_reason: "retries_exhausted",
        dead_message: "Every retry failed.",
        first_failure_at: T,
        last_failure_at: T,
        updated_at: T,
        expires_at: T + 300,
      });
      insert({
        id: RETRYING,
        state: "retrying",
        attempts: 1,
        record: JSON.stringify(RETRYING_RECORD),
        version: 1,
        kv_version: 0,
        accepted_at: T,
        first_failure_at: T + 3,
        updated_at: T + 4,
        expires_at: T + 400,
      });
      // A discarded entry without a note id: no record, yet its version was bumped.
      insert({
        id: NO_NOTE_ID,
        state: "failed",
        attempts: 1,
        version: 1,
        kv_version: 0,
        dead_reason: "undecodable",
        dead_message: "The queued message does not hold a valid frame.",
        first_failure_at: T,
        last_failure_at: T,
        updated_at: T,
        expires_at: T + 500,
      });

      ensureSchema(state.storage);

      const rows = sql.exec<NoteRow>("SELECT * FROM notes ORDER BY id").toArray();
      const version = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").one().value;
      return { rows, version, schema: schemaOf(sql) };
    },
  );

  expect(migrated.version).toBe(CURRENT_SCHEMA_VERSION);
  expect(migrated.schema).toEqual(fresh);
  const row = (id: string) => migrated.rows.find((candidate) => candidate.id === id) as NoteRow;
  expect(statusRecordOf(row(SENT))).toEqual(SENT_RECORD);
  expect(statusRecordOf(row(REJECTED))).toEqual(REJECTED_RECORD);
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
  expect(statusRecordOf(row(RETRYING))).toEqual(RETRYING_RECORD);
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
