/**
 * The ops overview's tables (series.ts, alerts.ts), apart from the code that uses them so that
 * schema.ts can build them without importing that code: the series' columns, the alerts' state,
 * the backlog's index.
 */

/** What a bucket counts, besides the latency histogram. */
export const SERIES_COUNTS = [
  "accepted",
  "sent",
  "delivered",
  "failed",
  "ok",
  "throttled",
  "server_error",
  "refused",
  "no_answer",
  "messages",
  "kv_writes",
  "rows_written",
] as const;
export type SeriesCount = (typeof SERIES_COUNTS)[number];

/** The tables, for schema.ts: a fresh object gets them with the others, an older one by migration. */
export const SERIES_TABLES = ["series_minutes", "series_hours"]
  .map(
    (table) => `CREATE TABLE ${table} (
  at INTEGER PRIMARY KEY,
  ${SERIES_COUNTS.map((count) => `${count} INTEGER NOT NULL DEFAULT 0`).join(",\n  ")},
  latency TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;`,
  )
  .join("\n");

/** One row per alert kind (4 at most, never deleted): its condition's start and what was last sent. */
export const ALERTS_TABLE = `CREATE TABLE alerts (
  kind TEXT PRIMARY KEY,
  began INTEGER,
  detail TEXT,
  notified TEXT,
  alerted_at INTEGER,
  sending_until INTEGER
) WITHOUT ROWID;`;

/**
 * Notes waiting to be retried, by acceptance: the backlog's oldest in one row read. Partial, so a
 * note that is sent at its first attempt never enters it; a note that retries costs an entry
 * written each time its row is.
 */
export const RETRYING_INDEX =
  "CREATE INDEX notes_retrying ON notes(accepted_at) WHERE state = 'retrying' AND accepted_at IS NOT NULL;";
