/**
 * The delivery ledger's tables, their row types, how long a row lives, the order a note's states
 * move in, and the schema version with its migrations: the one place that knows how a note is
 * stored. The ledger object (ledger.ts) calls {@link ensureSchema} once when it wakes, as the
 * agents SDK does (`CURRENT_SCHEMA_VERSION`, cloudflare/agents packages/agents/src/index.ts).
 */

import { DEAD_LETTER_TTL_SECONDS, type NoteState } from "@notepipe/pipeline";
import { CIRCUITS_TABLE } from "./circuits.ts";
import { ALERTS_TABLE, RETRYING_INDEX, SERIES_TABLES } from "./overview-schema.ts";

/** Bumped with every change to the tables below; each step from the one before is in {@link MIGRATIONS}. */
export const CURRENT_SCHEMA_VERSION = 7;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How long a note's row outlives its first write: until no copy of the note can reach a consumer.
 * The client re-posts a note at most 7 days after enqueueing it (packages/client, outbox expiry),
 * and Queues keeps each copy at most 14 days (the paid maximum of the message retention,
 * https://developers.cloudflare.com/queues/configuration/configure-queues/), so the last copy
 * arrives within 21 days; a day more covers a copy the dead-letter queue files after a ledger
 * outage. workers/deliver/README.md, "How long the ledger keeps a row", has the arithmetic.
 */
export const ROW_TTL_MS = (7 + 14 + 1) * DAY_MS;
export const DEAD_LETTER_TTL_MS = DEAD_LETTER_TTL_SECONDS * 1000;

/**
 * How far along a note is. A note moves only to a state of a higher rank, or sideways within its
 * rank; the two ways back (a replay of a dead letter, an operator's discard) are named moves of
 * their own in notes.ts.
 */
export const RANK: Record<NoteState, number> = {
  queued: 0,
  retrying: 0,
  failed: 1,
  dead: 1,
  sent: 2,
  delivered: 3,
  bounced: 4,
  complained: 4,
};

/**
 * A note: its state, the columns its status record is built from (notes.ts, `statusRecordOf`), its
 * dead letter if it has one, and the request that holds it.
 */
export interface NoteRow extends Record<string, SqlStorageValue> {
  id: string;
  state: NoteState;
  attempts: number;
  /** The status record's version; 0 while the note has none. */
  version: number;
  /** The version KV is known to hold. */
  kv_version: number;
  /** ms: the status record's `updatedAt`. */
  updated_at: number;
  error: string | null;
  error_code: string | null;
  provider_id: string | null;
  next_attempt_at: number | null;
  first_failure_at: number | null;
  last_failure_at: number | null;
  /** 1 while ops lists the note as a dead letter: the one mark of a dead letter. */
  dead_letter: number;
  possibly_sent: number;
  request_key: string | null;
  frame: ArrayBuffer | null;
  accepted_at: number | null;
  replayed_at: number | null;
  replay_token: number | null;
  event_id: string | null;
  /** The note's steps for the ops console (timeline.ts), written with each move. */
  timeline: string | null;
  expires_at: number;
}

/** One request to the provider, byte for byte the same on every attempt. */
export interface RequestRow extends Record<string, SqlStorageValue> {
  key: string;
  from_json: string;
  subject_json: string;
  /** JSON array of the note ids, sorted. */
  note_ids: string;
  created_at: number;
  holder: string | null;
  lease_until: number;
  /** An attempt may have reached the provider: only the same request may go out again. */
  maybe_sent: number;
  attempts: number;
  /** The provider it goes to, every time; null: made before failover (the first listed). */
  provider: string | null;
}

/** Runs one statement, read to its end so that its row counts are final. */
export type Exec = <T extends Record<string, SqlStorageValue>>(
  query: string,
  ...bindings: unknown[]
) => { rows: T[]; rowsWritten: number };

/**
 * WITHOUT ROWID: keyed by the text id itself, a row write is one b-tree write, where a rowid table
 * would write its primary-key index too, a second billed row per insert.
 */
const NOTES_TABLE = `
CREATE TABLE notes (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 0,
  kv_version INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL,
  error TEXT,
  error_code TEXT,
  provider_id TEXT,
  next_attempt_at INTEGER,
  first_failure_at INTEGER,
  last_failure_at INTEGER,
  dead_letter INTEGER NOT NULL DEFAULT 0,
  possibly_sent INTEGER NOT NULL DEFAULT 0,
  request_key TEXT,
  frame BLOB,
  accepted_at INTEGER,
  replayed_at INTEGER,
  replay_token INTEGER,
  event_id TEXT,
  expires_at INTEGER NOT NULL,
  CHECK (state <> 'dead' OR dead_letter = 1)
) WITHOUT ROWID;
CREATE INDEX notes_dead ON notes(id) WHERE dead_letter = 1;
CREATE INDEX notes_behind ON notes(updated_at) WHERE kv_version < version;
`;

const REQUESTS_TABLE = `
CREATE TABLE requests (
  key TEXT PRIMARY KEY,
  from_json TEXT NOT NULL,
  subject_json TEXT NOT NULL,
  note_ids TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  holder TEXT,
  lease_until INTEGER NOT NULL,
  maybe_sent INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;

/** `meta` holds the schema version. */
const META_TABLE = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)";

/**
 * Prune walks expired rows oldest first and reads no other. A row's expiry is written with the row
 * and moves only when the note becomes or stops being a dead letter (notes.ts), so the index costs
 * one row write per note, not one per move.
 */
const EXPIRY_INDEX = "CREATE INDEX notes_expiry ON notes(expires_at);";

/** What `stats` answers, kept by every call that changes a note (counters.ts): one row, a JSON object. */
const COUNTERS_TABLE = "CREATE TABLE counters (id INTEGER PRIMARY KEY CHECK (id = 0), counts TEXT NOT NULL);";

/** A note's steps for the ops console (timeline.ts): a column of the row, so no row more is written. */
const TIMELINE_COLUMN = "ALTER TABLE notes ADD COLUMN timeline TEXT;";

/** The ops overview's series, its alerts' state and the backlog's index (series.ts, alerts.ts). */
const OVERVIEW_TABLES = `${SERIES_TABLES}${ALERTS_TABLE}${RETRYING_INDEX}`;

/** Today's tables, for an object that has none yet. */
const CURRENT_TABLES = `${NOTES_TABLE}${TIMELINE_COLUMN}${EXPIRY_INDEX}${REQUESTS_TABLE}${COUNTERS_TABLE}
INSERT INTO counters (id, counts) VALUES (0, '{}');${CIRCUITS_TABLE}${OVERVIEW_TABLES}`;

/** ISO 8601 in a version 1 record, as ms (NULL stays NULL). */
const msOf = (path: string) => `CAST(round(unixepoch(json_extract(record, '${path}'), 'subsec') * 1000) AS INTEGER)`;

/**
 * The step to each version from the one before. Version 1 is the ledger as first deployed, with
 * no version stored: a `notes` table with the status record as JSON in `record`, and a dead letter
 * marked by `dead = 1` whatever the state. Version 2 keeps the record's fields in columns (built
 * back in one function) and a dead letter's reason and sentence in the record's `error_code` and
 * `error`, which always held the same. The whole table is copied once, in the transaction that
 * wakes the object: SQLite's documented way to change a table's columns
 * (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes").
 * Two kinds of version 1 row are mended on the way: a `dead` note whose dead letter a replay had
 * cleared before its message was sent is `queued` (a new record, for KV); a row without a record
 * (`msg-` entries) has nothing for KV to catch up with.
 * Version 3 indexes the rows by expiry, for prune, which then needs no note of when it last ran;
 * existing rows keep the expiry they have. Version 4 keeps `stats`'s counts in `counters`,
 * counted once from the table as it is (the one scan it will ever need), as counters.ts counts.
 * Version 5 adds each note's `timeline` (timeline.ts); rows written before it have none.
 * Version 6 adds the providers' circuits and each request's `provider` (circuits.ts); a request
 * made before it names none and goes to the first listed provider, as it did.
 * Version 7 adds the ops overview's minute and hour series, its alerts' state, and the index of
 * retrying notes by acceptance (its one build reads the notes once); the series start empty.
 */
const MIGRATIONS: Record<number, string> = {
  2: `
ALTER TABLE notes RENAME TO notes_v1;
DROP INDEX IF EXISTS notes_dead;
DROP INDEX IF EXISTS notes_behind;
${NOTES_TABLE}
INSERT INTO notes (id, state, attempts, version, kv_version, updated_at, error, error_code, provider_id,
  next_attempt_at, first_failure_at, last_failure_at, dead_letter, possibly_sent, request_key, frame, accepted_at,
  replayed_at, replay_token, event_id, expires_at)
SELECT id, CASE WHEN state = 'dead' AND dead = 0 THEN 'queued' ELSE state END, attempts,
  version + (state = 'dead' AND dead = 0), CASE WHEN record IS NULL THEN version ELSE kv_version END,
  COALESCE(${msOf("$.updatedAt")}, updated_at),
  CASE WHEN dead = 1 THEN dead_message WHEN state = 'dead' THEN NULL ELSE json_extract(record, '$.error') END,
  CASE WHEN dead = 1 THEN dead_reason WHEN state = 'dead' THEN NULL ELSE json_extract(record, '$.errorCode') END,
  json_extract(record, '$.providerId'), ${msOf("$.nextAttemptAt")}, first_failure_at, last_failure_at, dead,
  possibly_sent, request_key, frame, accepted_at, replayed_at, replay_token, event_id, expires_at
FROM notes_v1;
DROP TABLE notes_v1;
`,
  3: `${EXPIRY_INDEX} DELETE FROM meta WHERE key = 'pruned_at';`,
  4: `
${COUNTERS_TABLE}
INSERT INTO counters (id, counts) SELECT 0, json_group_object(name, n) FROM (
  SELECT 'state:' || state AS name, count(*) AS n FROM notes WHERE id NOT LIKE 'msg-%' GROUP BY state
  UNION ALL SELECT 'dead:' || COALESCE(error_code, 'retries_exhausted'), count(*) FROM notes WHERE dead_letter = 1
    GROUP BY 1
  UNION ALL SELECT 'possibly_sent', count(*) FROM notes WHERE dead_letter = 1 AND possibly_sent = 1
  UNION ALL SELECT 'behind', count(*) FROM notes WHERE kv_version < version
);
`,
  5: TIMELINE_COLUMN,
  6: CIRCUITS_TABLE,
  7: OVERVIEW_TABLES,
};

/**
 * Brings the object's tables to {@link CURRENT_SCHEMA_VERSION}, in one transaction: a fresh object
 * gets today's tables, an older one each migration in turn. Costs one row read when up to date.
 */
export function ensureSchema(storage: DurableObjectStorage): void {
  storage.transactionSync(() => {
    const sql = storage.sql;
    sql.exec(META_TABLE);
    const stored = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'schema_version'").toArray()[0];
    const version = stored?.value ?? (tableExists(sql, "notes") ? 1 : 0);
    if (version === CURRENT_SCHEMA_VERSION) return;
    if (version > CURRENT_SCHEMA_VERSION) {
      // An older deploy woke an object a newer one migrated: it must not write rows it cannot read.
      throw new Error(`ledger schema ${version} is newer than this code's ${CURRENT_SCHEMA_VERSION}`);
    }
    if (version === 0) {
      sql.exec(CURRENT_TABLES);
    } else {
      for (let next = version + 1; next <= CURRENT_SCHEMA_VERSION; next++) sql.exec(MIGRATIONS[next] as string);
    }
    sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", CURRENT_SCHEMA_VERSION);
  });
}

function tableExists(sql: SqlStorage, name: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
}
