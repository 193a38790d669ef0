/**
 * A note's row: the one writer that moves it from one state to the next ({@link moveNote}), and
 * what is read back from it (its status record, its dead letter). Every other change to a note
 * row is a named function here too; nothing else in the ledger writes `notes`.
 *
 * A dead letter is one mark: `dead_letter = 1`. The note's state is then `dead` (the dead-letter
 * queue filed it once its retries ran out) or `failed` (the provider refused it, its request went
 * unanswered past the key window, or its message held no frame): that is what the client's status
 * says. Its reason and sentence are the status record's `errorCode` and `error`.
 */

import {
  type DeadLetter,
  type DeliveryErrorCode,
  type NoteState,
  SENT_STATES,
  type StatusRecord,
} from "@notepipe/pipeline";
import { DELIVERY_ERRORS } from "../queue/outcomes.ts";
import { COUNTED_COLUMNS, type Counted, countChange } from "./counters.ts";
import { DEAD_LETTER_TTL_MS, type Exec, type NoteRow, RANK, ROW_TTL_MS } from "./schema.ts";
import { countMove } from "./series.ts";
import { appendStep, stepOf } from "./timeline.ts";

/** Why the note failed, as its status record and its dead letter say it. */
interface Failure {
  error: string;
  code: DeliveryErrorCode;
  /** ms: when this failure happened. */
  at: number;
  /** ms: when the note's troubles began, if not with this failure (a request first sent then). */
  since?: number;
}

/**
 * Every way a note's state moves. `at` is the time the status record says (the consumer's clock
 * for an outcome it reports, so that the record KV got and the ledger's agree); `kv` says the
 * caller wrote the new record to KV before the call.
 */
export type Move =
  /** Goes out in request `key`, with the frame that request sends. */
  | {
      to: "claimed";
      key: string;
      frame: Uint8Array;
      acceptedAt: number | null;
      replayedAt: number | null;
      attempts: number;
    }
  | { to: "sent"; providerId: string | null; attempts: number; at: number; kv: boolean }
  | { to: "retrying"; failure: Failure; nextAttemptAt: number | null; attempts: number; kv: boolean }
  /** Given up on: the provider refused it, or its request expired; a dead letter unless `letter` is null. */
  | { to: "failed"; failure: Failure; letter: { possiblySent: boolean } | null; attempts: number; kv: boolean }
  /** Filed by the dead-letter queue once the message's retries ran out. */
  | {
      to: "dead";
      failure: Failure;
      possiblySent: boolean;
      frame: Uint8Array | null;
      acceptedAt: number | null;
      attempts: number;
    }
  /** A message that holds no valid frame: a dead letter of its own, never sent. */
  | {
      to: "undecodable";
      failure: Failure;
      frame: Uint8Array | null;
      replayedAt: number | null;
      acceptedAt: number | null;
      attempts: number;
    }
  /** A replay's messages are on the queue: the dead letter is gone, the note waits to be sent. */
  | { to: "queued"; at: number }
  /** A provider's delivery event. */
  | { to: "event"; state: NoteState; eventId: string; error: string | null; at: number }
  /** An operator gave up on the dead letter: never sent, no longer listed. */
  | { to: "discarded"; at: number };

/** The id of a message whose body held no note id: it has a dead letter but no status record. */
export function isMessageId(id: string): boolean {
  return id.startsWith("msg-");
}

export function noteOf(exec: Exec, id: string): NoteRow | null {
  return exec<NoteRow>("SELECT * FROM notes WHERE id = ?", id).rows[0] ?? null;
}

/**
 * Moves note `id` (`row`, or never seen if null) as `move` says, setting every column the move
 * implies, in one row write; answers the row as it now is.
 */
export function moveNote(exec: Exec, id: string, row: NoteRow | null, move: Move, now: number): NoteRow {
  const from = row ?? blankRow(id, now);
  if (!canMove(from, move)) {
    // The callers check first: reaching here is a bug, and the call's transaction is rolled back.
    throw new Error(
      `ledger: note ${id} cannot move from ${from.state} to ${move.to === "event" ? move.state : move.to}`,
    );
  }
  const next = { ...nextRow(from, move, now), timeline: appendStep(from.timeline, stepOf(move)) };
  writeRow(exec, next, row === null || next.expires_at !== row.expires_at);
  countChange(row, next);
  countMove(row, next);
  return next;
}

/**
 * The forward-only rule: a note moves to a state of a higher rank, or sideways within its rank,
 * never back. The two ways back start from a dead letter: a replay (`claimed`, then `queued`) and
 * an operator's discard.
 */
function canMove(row: NoteRow, move: Move): boolean {
  const rank = RANK[row.state];
  switch (move.to) {
    case "claimed":
      return rank === RANK.queued || row.dead_letter === 1;
    case "queued":
    case "discarded":
      return row.dead_letter === 1;
    case "retrying":
    case "dead":
      return rank === RANK.queued;
    case "sent":
    case "failed":
    case "undecodable":
      return rank < RANK.sent;
    case "event":
      return RANK[move.state] > rank;
  }
}

/** The row a note's first move starts from: queued, no record, no request. */
function blankRow(id: string, now: number): NoteRow {
  return {
    id,
    state: "queued",
    attempts: 0,
    version: 0,
    kv_version: 0,
    updated_at: now,
    error: null,
    error_code: null,
    provider_id: null,
    next_attempt_at: null,
    first_failure_at: null,
    last_failure_at: null,
    dead_letter: 0,
    possibly_sent: 0,
    request_key: null,
    frame: null,
    accepted_at: null,
    replayed_at: null,
    replay_token: null,
    event_id: null,
    timeline: null,
    expires_at: now + ROW_TTL_MS,
  };
}

/** The new status record's version, and what KV holds once the caller's write of it counts. */
function newRecord(row: NoteRow, kv: boolean, at: number): Pick<NoteRow, "version" | "kv_version" | "updated_at"> {
  // A message without a note id has no status record: nothing for KV to catch up with.
  if (isMessageId(row.id)) return { version: row.version, kv_version: row.kv_version, updated_at: at };
  const version = row.version + 1;
  return { version, kv_version: kv ? version : row.kv_version, updated_at: at };
}

/** The columns a failure sets: its sentence and code, and when the note's troubles began and last struck. */
function failed(row: NoteRow, failure: Failure) {
  return {
    error: failure.error,
    error_code: failure.code,
    next_attempt_at: null,
    first_failure_at: row.first_failure_at ?? failure.since ?? failure.at,
    last_failure_at: failure.at,
  };
}

/** No failure to show: a record of `sent`, `queued` or later carries none. */
const NO_FAILURE = { error: null, error_code: null, next_attempt_at: null } as const;

function nextRow(row: NoteRow, move: Move, now: number): NoteRow {
  switch (move.to) {
    case "claimed":
      return {
        ...row,
        // A replay takes the dead letter back: the note is queued again, whatever its send meets.
        ...(row.dead_letter === 1 ? { ...newRecord(row, false, now), ...NO_FAILURE, state: "queued" as const } : {}),
        request_key: move.key,
        frame: bytesOf(move.frame),
        accepted_at: row.accepted_at ?? move.acceptedAt,
        replayed_at: move.replayedAt,
        replay_token: null,
        dead_letter: 0,
        attempts: Math.max(row.attempts, move.attempts),
      };
    case "sent":
      return {
        ...row,
        ...newRecord(row, move.kv, move.at),
        ...NO_FAILURE,
        state: "sent",
        provider_id: move.providerId,
        attempts: Math.max(row.attempts, move.attempts),
        request_key: null,
        frame: null,
        dead_letter: 0,
        replay_token: null,
      };
    case "retrying":
      return {
        ...row,
        ...newRecord(row, move.kv, move.failure.at),
        ...failed(row, move.failure),
        state: "retrying",
        next_attempt_at: move.nextAttemptAt,
        last_failure_at: row.last_failure_at,
        attempts: Math.max(row.attempts, move.attempts),
      };
    case "failed":
      return {
        ...row,
        ...newRecord(row, move.kv, move.failure.at),
        ...failed(row, move.failure),
        state: "failed",
        attempts: Math.max(row.attempts, move.attempts),
        request_key: null,
        dead_letter: move.letter === null ? 0 : 1,
        possibly_sent: move.letter?.possiblySent ? 1 : 0,
        replay_token: null,
        expires_at: move.letter === null ? row.expires_at : now + DEAD_LETTER_TTL_MS,
      };
    case "dead":
      return {
        ...row,
        ...newRecord(row, false, move.failure.at),
        ...failed(row, move.failure),
        state: "dead",
        attempts: move.attempts,
        dead_letter: 1,
        possibly_sent: move.possiblySent ? 1 : 0,
        frame: row.frame ?? bytesOf(move.frame),
        accepted_at: row.accepted_at ?? move.acceptedAt,
        expires_at: now + DEAD_LETTER_TTL_MS,
      };
    case "undecodable":
      return {
        ...row,
        ...newRecord(row, false, move.failure.at),
        ...failed(row, move.failure),
        state: "failed",
        attempts: Math.max(row.attempts, move.attempts),
        first_failure_at: move.failure.at,
        dead_letter: 1,
        possibly_sent: 0,
        frame: bytesOf(move.frame),
        replayed_at: move.replayedAt,
        accepted_at: row.accepted_at ?? move.acceptedAt,
        expires_at: now + DEAD_LETTER_TTL_MS,
      };
    case "queued":
      return {
        ...row,
        ...newRecord(row, false, move.at),
        ...NO_FAILURE,
        state: "queued",
        dead_letter: 0,
        expires_at: now + ROW_TTL_MS,
      };
    case "event":
      return {
        ...row,
        ...newRecord(row, false, move.at),
        ...NO_FAILURE,
        error: move.error,
        state: move.state,
        event_id: move.eventId,
        request_key: null,
        // A request that still holds the note must go out byte for byte as it first did.
        frame: row.request_key === null ? null : row.frame,
        dead_letter: 0,
        replay_token: null,
      };
    case "discarded":
      return {
        ...row,
        ...newRecord(row, false, move.at),
        state: "failed",
        error: `${DELIVERY_ERRORS.discarded.sentence} It had failed: ${row.error ?? ""}`.trim(),
        error_code: "discarded",
        next_attempt_at: null,
        dead_letter: 0,
        replay_token: null,
        request_key: null,
        // Its request, if it still exists, goes out byte for byte as it first did (requests.ts, `dropIfEmpty`).
        frame: row.request_key === null ? null : row.frame,
      };
  }
}

const COLUMNS = [
  "id",
  "state",
  "attempts",
  "version",
  "kv_version",
  "updated_at",
  "error",
  "error_code",
  "provider_id",
  "next_attempt_at",
  "first_failure_at",
  "last_failure_at",
  "dead_letter",
  "possibly_sent",
  "request_key",
  "frame",
  "accepted_at",
  "replayed_at",
  "replay_token",
  "event_id",
  "timeline",
  "expires_at",
] as const satisfies readonly (keyof NoteRow)[];

/** One upsert of every column: a row write, however many columns the move changed. */
const upsertSetting = (columns: readonly string[]) =>
  `INSERT INTO notes (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})
  ON CONFLICT (id) DO UPDATE SET ${columns.map((column) => `${column} = excluded.${column}`).join(", ")}`;
const WRITE_ROW = upsertSetting(COLUMNS.slice(1));
/**
 * The same, leaving `expires_at` out of the update: SQLite rewrites a row's entry in every index
 * whose column the SET names, changed or not, and each entry rewritten is a billed row written.
 */
const WRITE_ROW_SAME_EXPIRY = upsertSetting(COLUMNS.slice(1, -1));

function writeRow(exec: Exec, row: NoteRow, expiryMoved: boolean): void {
  exec(expiryMoved ? WRITE_ROW : WRITE_ROW_SAME_EXPIRY, ...COLUMNS.map((column) => row[column]));
}

/**
 * Deletes up to `limit` notes whose time is up (`expires_at` before `now`), oldest first through
 * the expiry index: never one a request holds, nor one whose record KV has not taken while its
 * client may still ask for it (accepted after `askedSince`). Answers how many went.
 */
export function deleteExpired(exec: Exec, now: number, askedSince: number, limit: number): number {
  const deleted = exec<Counted>(
    `DELETE FROM notes WHERE id IN (SELECT id FROM notes WHERE expires_at < ? AND request_key IS NULL
       AND (kv_version = version OR accepted_at < ?) ORDER BY expires_at LIMIT ?) RETURNING ${COUNTED_COLUMNS}`,
    now,
    askedSince,
    limit,
  ).rows;
  for (const row of deleted) countChange(row, null);
  return deleted.length;
}

/** Lets go of the request that holds the note, which stays as it is. */
export function releaseNote(exec: Exec, id: string): void {
  exec("UPDATE notes SET request_key = NULL WHERE id = ?", id);
}

/** A note sent meanwhile lets go of its request, and of the frame kept for it. */
export function releaseSent(exec: Exec, id: string): void {
  exec("UPDATE notes SET request_key = NULL, frame = NULL WHERE id = ?", id);
}

/** A sent note's frame, kept while its request existed, is no longer needed. */
export function dropFrame(exec: Exec, id: string): void {
  exec("UPDATE notes SET frame = NULL WHERE id = ?", id);
}

/** A replay's token: only a message carrying it may take the dead letter back to the queue. */
export function markReplay(exec: Exec, id: string, token: number): void {
  exec("UPDATE notes SET replay_token = ? WHERE id = ?", token, id);
}

/**
 * KV took version `version` of the note's record. A write of an older version than the ledger's
 * may have landed after the newer one's: KV is then marked behind, for the repair.
 */
export function markSynced(exec: Exec, id: string, version: number): void {
  const row = noteOf(exec, id);
  if (row === null || row.version < version) return;
  const kvVersion = row.version === version ? version : 0;
  exec("UPDATE notes SET kv_version = ? WHERE id = ?", kvVersion, id);
  countChange(row, { ...row, kv_version: kvVersion });
}

/** KV took a record the ledger did not: it may now show an older state. The repair writes it again. */
export function markKvBehind(exec: Exec, id: string): void {
  const row = noteOf(exec, id);
  if (row === null) return;
  exec("UPDATE notes SET kv_version = 0 WHERE id = ?", id);
  countChange(row, { ...row, kv_version: 0 });
}

const FAILING: ReadonlySet<NoteState> = new Set(["retrying", "failed", "dead"]);

/** The status record KV should hold for the note, built from its columns; null if it has none. */
export function statusRecordOf(row: NoteRow): StatusRecord | null {
  if (row.version === 0 || isMessageId(row.id)) return null;
  const record: StatusRecord = { id: row.id, state: row.state, attempts: row.attempts, updatedAt: iso(row.updated_at) };
  if (row.error !== null) record.error = row.error;
  if (row.next_attempt_at !== null) record.nextAttemptAt = iso(row.next_attempt_at);
  if (row.provider_id !== null && SENT_STATES.has(row.state)) record.providerId = row.provider_id;
  if (row.error_code !== null) record.errorCode = row.error_code as DeliveryErrorCode;
  if (row.first_failure_at !== null && FAILING.has(row.state)) record.firstFailureAt = iso(row.first_failure_at);
  return record;
}

/** The note as ops lists it; only for a row with `dead_letter = 1`. */
export function deadLetterOf(row: NoteRow): DeadLetter {
  const letter: DeadLetter = {
    id: row.id,
    frame: row.frame === null ? "" : new Uint8Array(row.frame).toBase64(),
    reason: (row.error_code ?? "retries_exhausted") as DeliveryErrorCode,
    message: row.error ?? "",
    attempts: row.attempts,
    firstFailureAt: iso(row.first_failure_at ?? row.updated_at),
    lastFailureAt: iso(row.last_failure_at ?? row.updated_at),
    possiblySent: row.possibly_sent === 1,
    acceptedAt: row.accepted_at,
  };
  if (row.replayed_at !== null) letter.replayedAt = row.replayed_at;
  return letter;
}

/** The provider took the note: nothing sends it again. */
export function isSettled(row: NoteRow): boolean {
  return RANK[row.state] >= RANK.sent;
}

/** A frame is kept by a dead letter (for a replay) and by the request that holds the note. */
export function needsFrame(row: NoteRow): boolean {
  return row.dead_letter === 1 || row.request_key !== null;
}

/** A frame as SQLite stores it: a BLOB binds from an ArrayBuffer of exactly its bytes. */
function bytesOf(frame: Uint8Array | null): ArrayBuffer | null {
  if (frame === null) return null;
  return frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength
    ? (frame.buffer as ArrayBuffer)
    : (frame.slice().buffer as ArrayBuffer);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
