/**
 * The delivery ledger: one SQLite-backed Durable Object, the single authority on every note. KV is
 * eventually consistent, has no compare-and-set and fails for hours at a time; a Durable Object is
 * one strongly consistent, transactional owner, so two overlapping invocations, a redelivery, a
 * replay and a webhook all see the same truth and move a note only forward.
 *
 * Per note it knows: never seen; held by request K (an Idempotency-Key, the request's exact
 * composition and sender, which invocation holds it and until when); sent (provider id); failed or
 * dead with a dead letter. KV's `note:<id>` records are a projection of these rows for the client's
 * polls: each row carries the record KV should hold and a version, and `kv_version` says which
 * version KV is known to hold, so that a record KV refused is written later (`behind`).
 *
 * Every method runs in one synchronous transaction: the runtime may kill the caller at any await,
 * never halfway through a method. workers/deliver/README.md ("The delivery ledger") tells the story.
 */

import { DurableObject } from "cloudflare:workers";
import { decodeFrame } from "@notepipe/frame";
import {
  DEAD_LETTER_TTL_SECONDS,
  type DeadLetter,
  type LedgerUsage,
  type NoteState,
  type StatusRecord,
} from "@notepipe/pipeline";
import { DELIVERY_ERRORS } from "../outcomes.ts";
import type {
  BehindRecord,
  ClaimDecision,
  ClaimInput,
  ClaimNote,
  ClaimResult,
  DeadLetterPage,
  DeadLetterQuery,
  DiscardResult,
  EventOutcome,
  LedgerStats,
  NoteOutcome,
  ReplayStart,
  SendPlan,
  SettleInput,
  SettleResult,
  UndecodableNote,
} from "./ledger-types.ts";

/**
 * Rows outlive KV's status records a little: a sent note is never sent again for 30 days, beyond
 * the provider's own 24 h key window, whatever replays or late client re-posts bring.
 */
const ROW_TTL_MS = 31 * 24 * 60 * 60 * 1000;
const DEAD_LETTER_TTL_MS = DEAD_LETTER_TTL_SECONDS * 1000;
/** Pruning scans the table (an index on expiry would cost a row write per note): a few times a day. */
const PRUNE_INTERVAL_MS = 6 * 60 * 60 * 1000;
const PRUNE_BATCH = 5000;

/** How far along a note is: nothing moves it back, except an explicit replay or discard. */
const RANK: Record<NoteState, number> = {
  queued: 0,
  retrying: 0,
  failed: 1,
  dead: 1,
  sent: 2,
  delivered: 3,
  bounced: 4,
  complained: 4,
};

interface NoteRow extends Record<string, SqlStorageValue> {
  id: string;
  state: NoteState;
  attempts: number;
  record: string | null;
  version: number;
  kv_version: number;
  request_key: string | null;
  frame: ArrayBuffer | null;
  accepted_at: number | null;
  replayed_at: number | null;
  replay_token: number | null;
  dead: number;
  dead_reason: string | null;
  dead_message: string | null;
  possibly_sent: number;
  first_failure_at: number | null;
  last_failure_at: number | null;
  event_id: string | null;
  updated_at: number;
}

interface RequestRow extends Record<string, SqlStorageValue> {
  key: string;
  from_json: string;
  subject_json: string;
  note_ids: string;
  created_at: number;
  holder: string | null;
  lease_until: number;
  /** An attempt may have reached the provider: only the same request may go out again. */
  maybe_sent: number;
  attempts: number;
}

interface QueryResult<T> {
  rows: T[];
  rowsWritten: number;
}

/** One request's part in a settle call. */
interface RequestSettling {
  /** The caller holds the request's lease, so its transient failures count. */
  held: boolean;
  /** Refused before the provider looked at it: its notes are let go. */
  dissolve: boolean;
  /** Its `maybe_sent` was set in this call already. */
  marked?: boolean;
}

/**
 * WITHOUT ROWID: keyed by the text id itself, a row write is one b-tree write, where a rowid table
 * would write its primary-key index too, a second billed row per insert.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS notes (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  record TEXT,
  version INTEGER NOT NULL DEFAULT 0,
  kv_version INTEGER NOT NULL DEFAULT 0,
  request_key TEXT,
  frame BLOB,
  accepted_at INTEGER,
  replayed_at INTEGER,
  replay_token INTEGER,
  dead INTEGER NOT NULL DEFAULT 0,
  dead_reason TEXT,
  dead_message TEXT,
  possibly_sent INTEGER NOT NULL DEFAULT 0,
  first_failure_at INTEGER,
  last_failure_at INTEGER,
  event_id TEXT,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notes_dead ON notes(id) WHERE dead = 1;
CREATE INDEX IF NOT EXISTS notes_behind ON notes(updated_at) WHERE kv_version < version;
CREATE TABLE IF NOT EXISTS requests (
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
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

export class DeliveryLedger extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  /**
   * What the platform bills this object for, and the KV writes it learns of, since it started (in
   * memory: an eviction or a deploy zeroes it). The capacity bench reads it through GET /ops/stats.
   */
  private readonly counted: LedgerUsage = {
    since: new Date().toISOString(),
    requests: {},
    rowsRead: 0,
    rowsWritten: 0,
    kvWrites: 0,
    claimedNotes: 0,
  };

  usage(): LedgerUsage {
    this.tally("usage");
    return this.usageNow();
  }

  private usageNow(): LedgerUsage {
    return { ...this.counted, requests: { ...this.counted.requests } };
  }

  /** One RPC call: a Durable Object request. Every public method starts with it. */
  private tally(method: string): void {
    this.counted.requests[method] = (this.counted.requests[method] ?? 0) + 1;
  }

  /** Every query, read to its end so that its row counts are final, and counted. */
  private exec<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): QueryResult<T> {
    const cursor = this.sql.exec<T>(query, ...bindings);
    const rows = cursor.toArray();
    this.counted.rowsRead += cursor.rowsRead;
    this.counted.rowsWritten += cursor.rowsWritten;
    return { rows, rowsWritten: cursor.rowsWritten };
  }

  /**
   * Before a send: which notes of the batch go out, in which request, and which are settled or
   * held elsewhere. A new note joins the batch's new request; a note held by a request that went
   * unanswered (its lease ran out) makes that identical request go out again; a note held by a
   * request in flight in another invocation waits for it.
   */
  claim(input: ClaimInput): ClaimResult {
    this.tally("claim");
    // Each note claimed is one queue delivery (a read), whatever becomes of it.
    this.counted.claimedNotes += input.notes.length;
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const decisions: Record<string, ClaimDecision> = {};
      const plans = new Map<string, SendPlan | ClaimDecision>();
      const inBatch = new Set(input.notes.map((note) => note.id));
      const fresh: ClaimNote[] = [];

      for (const note of input.notes) {
        const row = this.note(note.id);
        if (row?.request_key != null) {
          const decided = plans.get(row.request_key) ?? this.planHeld(row.request_key, input, inBatch, now);
          plans.set(row.request_key, decided);
          decisions[note.id] =
            "notes" in decided ? sendDecision(decided.key, row) : (this.afterExpiry(note.id, decided) ?? decided);
          continue;
        }
        if (row === null || row.state === "queued" || row.state === "retrying") {
          fresh.push(note);
        } else if ((row.state === "failed" || row.state === "dead") && replays(note, row)) {
          fresh.push(note);
        } else {
          decisions[note.id] = this.settledDecision(row);
        }
      }

      const sends = [...plans.values()].filter((plan): plan is SendPlan => "notes" in plan);
      if (fresh.length > 0) {
        sends.push(this.claimFresh(fresh, input, now, sends.length + 1));
        for (const note of fresh) decisions[note.id] = sendDecision(input.newKey, this.note(note.id));
      }
      for (const note of input.undecodable) decisions[note.id] = this.fileUndecodable(note, now);
      // The invocation sends its requests one after another: the last must not outlive its lease.
      const leaseUntil = now + input.leaseMs * sends.length;
      for (const plan of sends.length > 1 ? sends.slice(0, -1) : []) {
        this.exec(
          "UPDATE requests SET lease_until = ? WHERE key = ? AND holder = ?",
          leaseUntil,
          plan.key,
          input.holder,
        );
      }
      return { decisions, sends };
    });
  }

  /**
   * After the provider answered (or did not): each note's outcome, in one transaction. A fact from
   * the provider (accepted, rejected) is recorded whoever reports it; a transient failure only by
   * the invocation that holds the request, which then lets go of it.
   */
  settle(input: SettleInput): SettleResult {
    this.tally("settle");
    this.counted.kvWrites += input.written.length;
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const written = new Set(input.written);
      const keys = new Map<string, RequestSettling>();
      const result: SettleResult = {};

      for (const outcome of input.outcomes) {
        let request = keys.get(outcome.key);
        if (request === undefined) {
          const row = this.request(outcome.key);
          request = { held: row !== null && row.holder === input.holder, dissolve: false };
          keys.set(outcome.key, request);
        }
        const row = this.note(outcome.id);
        if (row === null) continue;
        const wrote = written.has(outcome.id);
        if (!this.applyOutcome(row, outcome, request, wrote, now) && wrote && row.state !== outcome.record.state) {
          // KV took a record the ledger did not: it may now show an older state. Repair it.
          this.exec("UPDATE notes SET kv_version = 0 WHERE id = ?", row.id);
        }
      }

      for (const [key, request] of keys) {
        if (request.dissolve) this.dissolve(key);
        if (!this.dropIfEmpty(key) && request.held) {
          this.exec("UPDATE requests SET holder = NULL, lease_until = 0 WHERE key = ?", key);
        }
      }
      for (const outcome of input.outcomes) {
        const row = this.note(outcome.id);
        if (row === null || row.record === null) continue;
        result[outcome.id] = { record: JSON.parse(row.record) as StatusRecord, done: row.request_key === null };
      }
      return result;
    });
  }

  /**
   * The dead-letter queue's filing: a note whose retries ran out becomes `dead` with a dead letter,
   * unless it was settled meanwhile or a request in flight holds it. A note still held by an
   * unanswered request stays held, so that the request's answer, when it comes, still settles it.
   */
  fileDeadLetters(
    notes: ClaimNote[],
    undecodable: UndecodableNote[],
    idempotent: boolean,
  ): Record<string, ClaimDecision> {
    this.tally("fileDeadLetters");
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const decisions: Record<string, ClaimDecision> = {};
      for (const note of notes) {
        const row = this.note(note.id);
        const request = row?.request_key == null ? null : this.request(row.request_key);
        if (request !== null && request.holder !== null && request.lease_until > now) {
          decisions[note.id] = { kind: "wait", seconds: waitSeconds(request, now) };
          continue;
        }
        if (row !== null && (RANK[row.state] >= RANK.sent || row.state === "failed" || row.state === "dead")) {
          decisions[note.id] = this.settledDecision(row);
          continue;
        }
        const last = row?.record == null ? null : (JSON.parse(row.record) as StatusRecord);
        const reason = last?.errorCode ?? "retries_exhausted";
        const attempts = Math.max(row?.attempts ?? 0, last?.attempts ?? 0);
        const message =
          last?.error === undefined
            ? `${DELIVERY_ERRORS.retries_exhausted.sentence} No attempt left a record of why.`
            : `Retries ran out after ${attempts} attempt(s). The last: ${last.error}`;
        const firstFailureAt = row?.first_failure_at ?? now;
        this.upsert(note, now);
        this.exec(
          `UPDATE notes SET state = 'dead', record = ?, version = version + 1, dead = 1, dead_reason = ?,
             dead_message = ?, possibly_sent = ?, first_failure_at = ?, last_failure_at = ?, updated_at = ?,
             expires_at = ?, frame = COALESCE(frame, ?) WHERE id = ?`,
          JSON.stringify({
            id: note.id,
            state: "dead",
            attempts,
            updatedAt: iso(now),
            error: message,
            errorCode: reason,
            firstFailureAt: iso(firstFailureAt),
          } satisfies StatusRecord),
          reason,
          message,
          // Still held by its request, the note goes out again only as that same request, which a
          // provider with keys answers from its key: a replay cannot send it twice. Without keys it can.
          !idempotent && (request?.maybe_sent === 1 || request?.holder != null) ? 1 : 0,
          firstFailureAt,
          now,
          now,
          now + DEAD_LETTER_TTL_MS,
          note.frame,
          note.id,
        );
        decisions[note.id] = this.settledDecision(this.note(note.id) as NoteRow);
      }
      for (const note of undecodable) decisions[note.id] = this.fileUndecodable(note, now);
      return decisions;
    });
  }

  /** A provider's delivery event: moves the note forward only, each event once. */
  applyEvent(event: { noteId: string; state: NoteState; eventId: string; error?: string }): EventOutcome {
    this.tally("applyEvent");
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const row = this.note(event.noteId);
      if (row === null) return { kind: "unknown" };
      if (row.event_id === event.eventId) return { kind: "duplicate" };
      if (RANK[event.state] <= RANK[row.state]) return { kind: "not_newer" };
      const last = row.record === null ? null : (JSON.parse(row.record) as StatusRecord);
      const record: StatusRecord = { id: row.id, state: event.state, attempts: row.attempts, updatedAt: iso(now) };
      if (last?.providerId !== undefined) record.providerId = last.providerId;
      if (event.error !== undefined) record.error = event.error;
      // Proof that the note went out: no request holds it any more, no dead letter lists it.
      this.exec(
        `UPDATE notes SET state = ?, record = ?, version = version + 1, event_id = ?, request_key = NULL,
           frame = CASE WHEN request_key IS NULL THEN NULL ELSE frame END, dead = 0, replay_token = NULL,
           updated_at = ?, expires_at = ? WHERE id = ?`,
        event.state,
        JSON.stringify(record),
        event.eventId,
        now,
        now + ROW_TTL_MS,
        row.id,
      );
      if (row.request_key !== null) this.dropIfEmpty(row.request_key);
      return { kind: "applied", record, version: row.version + 1 };
    });
  }

  /**
   * The caller's KV writes of these versions went through. A write of an older version than the
   * ledger's may have landed after the newer one's: KV is then marked behind, for the repair.
   */
  synced(entries: { id: string; version: number }[]): void {
    this.tally("synced");
    this.counted.kvWrites += entries.length;
    this.ctx.storage.transactionSync(() => {
      for (const { id, version } of entries) {
        this.exec(
          "UPDATE notes SET kv_version = CASE WHEN version = ? THEN version ELSE 0 END WHERE id = ? AND version >= ?",
          version,
          id,
          version,
        );
      }
    });
  }

  /** Records KV may not hold yet, oldest first, leaving out those written in the last `quietMs`. */
  behind(limit: number, quietMs: number): BehindRecord[] {
    this.tally("behind");
    const before = Date.now() - quietMs;
    return this.exec<NoteRow>(
      "SELECT * FROM notes WHERE kv_version < version AND updated_at <= ? ORDER BY updated_at LIMIT ?",
      before,
      limit,
    )
      .rows.filter((row) => row.record !== null)
      .map((row) => ({ record: JSON.parse(row.record as string) as StatusRecord, version: row.version }));
  }

  listDeadLetters(query: DeadLetterQuery): DeadLetterPage {
    this.tally("listDeadLetters");
    const where = ["dead = 1", "id > ?"];
    const bindings: SqlStorageValue[] = [query.after ?? ""];
    if (query.reason !== undefined) {
      where.push("dead_reason = ?");
      bindings.push(query.reason);
    }
    if (query.since !== undefined) {
      where.push("last_failure_at >= ?");
      bindings.push(query.since);
    }
    const rows = this.sql
      .exec<NoteRow>(
        `SELECT * FROM notes WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`,
        ...bindings,
        query.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, query.limit);
    return {
      deadLetters: page.map(deadLetterOf),
      cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  /**
   * A replay's first step: the entries to put back on the queue, each marked with the replay's
   * token (its `replayedAt`). Only a message carrying that token may send a failed note again.
   * Past `maxFrameBytes` of frames (always after the first), the ids left are answered untouched
   * in `unstarted`, in order: a request puts only so many bytes on the queue.
   */
  beginReplay(ids: string[], token: number, includePossiblySent: boolean, maxFrameBytes = Infinity): ReplayStart {
    this.tally("beginReplay");
    return this.ctx.storage.transactionSync(() => {
      const start: ReplayStart = { replay: [], skipped: [], unstarted: [] };
      let bytes = 0;
      for (const [i, id] of ids.entries()) {
        const row = this.note(id);
        const frameBytes = row?.frame == null ? 0 : (row.frame as ArrayBuffer).byteLength;
        if (start.replay.length > 0 && bytes + frameBytes > maxFrameBytes) {
          start.unstarted = ids.slice(i);
          break;
        }
        if (row === null) start.skipped.push({ id, reason: "not_found" });
        else if (RANK[row.state] >= RANK.sent) start.skipped.push({ id, reason: "already_sent" });
        else if (row.dead === 0) {
          start.skipped.push({ id, reason: row.state === "failed" ? "not_found" : "already_queued" });
        } else if (row.possibly_sent === 1 && !includePossiblySent) {
          start.skipped.push({ id, reason: "possibly_sent" });
        } else if (row.frame === null || !decodeFrame(new Uint8Array(row.frame)).ok) {
          start.skipped.push({ id, reason: "undecodable" });
        } else {
          this.exec("UPDATE notes SET replay_token = ? WHERE id = ?", token, id);
          start.replay.push({ id, frame: new Uint8Array(row.frame), acceptedAt: row.accepted_at });
          bytes += frameBytes;
        }
      }
      return start;
    });
  }

  /** A replay's last step, once its messages are queued: the notes are `queued`, their entries gone. */
  finishReplay(ids: string[], token: number): BehindRecord[] {
    this.tally("finishReplay");
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const records: BehindRecord[] = [];
      for (const id of ids) {
        const row = this.note(id);
        if (row === null || row.replay_token !== token || row.dead === 0) continue;
        const record: StatusRecord = { id, state: "queued", attempts: row.attempts, updatedAt: iso(now) };
        this.exec(
          `UPDATE notes SET state = 'queued', record = ?, version = version + 1, dead = 0, updated_at = ?,
             expires_at = ? WHERE id = ?`,
          JSON.stringify(record),
          now,
          now + ROW_TTL_MS,
          id,
        );
        records.push({ record, version: row.version + 1 });
      }
      return records;
    });
  }

  /** An operator gives up on a dead letter: the note is `failed` (discarded) and never sent. */
  discard(id: string, now = Date.now()): DiscardResult {
    this.tally("discard");
    return this.ctx.storage.transactionSync(() => {
      const row = this.note(id);
      if (row === null || row.dead === 0) {
        return row !== null && (row.state === "queued" || row.request_key !== null)
          ? { kind: "in_queue" }
          : { kind: "not_found" };
      }
      if (row.request_key !== null) return { kind: "in_queue" };
      const record: StatusRecord | null = row.id.startsWith("msg-")
        ? null
        : {
            id,
            state: "failed",
            attempts: row.attempts,
            updatedAt: iso(now),
            error: `${DELIVERY_ERRORS.discarded.sentence} It had failed: ${row.dead_message ?? ""}`.trim(),
            errorCode: "discarded",
            ...(row.first_failure_at === null ? {} : { firstFailureAt: iso(row.first_failure_at) }),
          };
      this.exec(
        `UPDATE notes SET state = 'failed', record = ?, version = version + 1, dead = 0, replay_token = NULL,
           frame = NULL, updated_at = ?, expires_at = ? WHERE id = ?`,
        record === null ? null : JSON.stringify(record),
        now,
        now + ROW_TTL_MS,
        id,
      );
      return { kind: "discarded", record, version: row.version + 1 };
    });
  }

  stats(): LedgerStats {
    this.tally("stats");
    // Before its own queries: a reading does not count the scans it makes to count.
    const usage = this.usageNow();
    const now = Date.now();
    const states: Record<string, number> = {};
    let records = 0;
    for (const row of this.exec<{ state: string; n: number }>(
      "SELECT state, count(*) AS n FROM notes WHERE id NOT LIKE 'msg-%' GROUP BY state",
    ).rows) {
      states[row.state] = row.n;
      records += row.n;
    }
    const byReason: Record<string, number> = {};
    let total = 0;
    for (const row of this.exec<{ reason: string; n: number }>(
      "SELECT dead_reason AS reason, count(*) AS n FROM notes WHERE dead = 1 GROUP BY dead_reason",
    ).rows) {
      byReason[row.reason] = row.n;
      total += row.n;
    }
    const count = (query: string, ...bindings: SqlStorageValue[]) =>
      this.exec<{ n: number }>(query, ...bindings).rows[0]?.n ?? 0;
    return {
      states,
      records,
      deadLetters: {
        total,
        byReason,
        possiblySent: count("SELECT count(*) AS n FROM notes WHERE dead = 1 AND possibly_sent = 1"),
      },
      behind: count("SELECT count(*) AS n FROM notes WHERE kv_version < version"),
      unanswered: count("SELECT count(*) AS n FROM requests WHERE lease_until <= ?", now),
      usage,
    };
  }

  /** Drops rows past their time, a few times a day; answers how many went. */
  prune(): number {
    this.tally("prune");
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const last = this.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'pruned_at'").rows[0];
      if (last !== undefined && now - last.value < PRUNE_INTERVAL_MS) return 0;
      const cursor = this.exec(
        `DELETE FROM notes WHERE id IN (SELECT id FROM notes WHERE expires_at < ? AND request_key IS NULL
           AND kv_version = version LIMIT ?)`,
        now,
        PRUNE_BATCH,
      );
      this.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('pruned_at', ?)", now);
      return cursor.rowsWritten;
    });
  }

  // --- inside a transaction ---

  private note(id: string): NoteRow | null {
    return this.exec<NoteRow>("SELECT * FROM notes WHERE id = ?", id).rows[0] ?? null;
  }

  private request(key: string): RequestRow | null {
    return this.exec<RequestRow>("SELECT * FROM requests WHERE key = ?", key).rows[0] ?? null;
  }

  /** What a note held by request `key` does in this batch: wait, go out in that request, or nothing. */
  private planHeld(key: string, input: ClaimInput, inBatch: Set<string>, now: number): SendPlan | ClaimDecision {
    const request = this.request(key);
    if (request === null) {
      // A request row gone without its notes let go cannot happen in one transaction; heal the note.
      this.exec("UPDATE notes SET request_key = NULL WHERE request_key = ?", key);
      return { kind: "wait", seconds: 1 };
    }
    if (request.holder !== null && request.holder !== input.holder && request.lease_until > now) {
      return { kind: "wait", seconds: waitSeconds(request, now) };
    }
    const lapsed = request.holder !== null && request.holder !== input.holder;
    const maybeSent = request.maybe_sent === 1 || lapsed;
    if (maybeSent && input.keyWindowMs > 0 && now - request.created_at >= input.keyWindowMs) {
      this.expire(request, now);
      return { kind: "settled", record: null, behind: true, version: 0 };
    }
    // A lease that ran out unanswered: its holder may have sent the request before it died.
    this.exec(
      "UPDATE requests SET holder = ?, lease_until = ?, maybe_sent = ?, attempts = attempts + 1 WHERE key = ?",
      input.holder,
      now + input.leaseMs,
      maybeSent ? 1 : 0,
      key,
    );
    const ids = JSON.parse(request.note_ids) as string[];
    const notes: SendPlan["notes"] = [];
    for (const id of ids) {
      if (inBatch.has(id)) {
        notes.push({ id });
        continue;
      }
      // Kept for as long as the request exists, even for a note settled on its own meanwhile (a
      // webhook): the request must go out byte for byte as it first did.
      const frame = this.note(id)?.frame ?? null;
      if (frame === null) {
        console.error(`ledger: request ${key} lost the frame of ${id}; its notes are dead-lettered as possibly sent`);
        this.expire(request, now);
        return { kind: "settled", record: null, behind: true, version: 0 };
      }
      notes.push({ id, frame: new Uint8Array(frame) });
    }
    return {
      key,
      resend: request.attempts > 0 && maybeSent,
      fromJson: request.from_json,
      subjectJson: request.subject_json,
      notes,
    };
  }

  /** A note whose request just expired: what it became (`failed`, possibly sent). */
  private afterExpiry(id: string, decided: ClaimDecision): ClaimDecision | undefined {
    if (decided.kind !== "settled") return undefined;
    return this.settledDecision(this.note(id) as NoteRow);
  }

  private claimFresh(notes: ClaimNote[], input: ClaimInput, now: number, requests: number): SendPlan {
    const ids = notes.map((note) => note.id).sort();
    this.exec(
      `INSERT INTO requests (key, from_json, subject_json, note_ids, created_at, holder, lease_until, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
      input.newKey,
      input.fromJson,
      input.subjectJson,
      JSON.stringify(ids),
      now,
      input.holder,
      now + input.leaseMs * requests,
    );
    // One row write per note: the Free plan allows 100,000 a day (README.md, "The delivery ledger").
    for (const note of notes) {
      this.exec(
        `INSERT INTO notes (id, state, attempts, request_key, frame, accepted_at, replayed_at, updated_at, expires_at)
         VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET request_key = excluded.request_key, frame = excluded.frame, dead = 0,
           replay_token = NULL, replayed_at = excluded.replayed_at, attempts = max(attempts, excluded.attempts),
           updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
        note.id,
        note.attempts,
        input.newKey,
        note.frame,
        note.acceptedAt,
        note.replayedAt ?? null,
        now,
        now + ROW_TTL_MS,
      );
    }
    return {
      key: input.newKey,
      resend: false,
      fromJson: input.fromJson,
      subjectJson: input.subjectJson,
      notes: ids.map((id) => ({ id })),
    };
  }

  /** Inserts a row for a note never seen, in state `queued`, with nothing for KV to show yet. */
  private upsert(note: { id: string; acceptedAt: number | null; attempts: number }, now: number): void {
    this.exec(
      `INSERT OR IGNORE INTO notes (id, state, attempts, accepted_at, updated_at, expires_at)
       VALUES (?, 'queued', ?, ?, ?, ?)`,
      note.id,
      note.attempts,
      note.acceptedAt,
      now,
      now + ROW_TTL_MS,
    );
  }

  /**
   * `written`: the consumer wrote the outcome's record to KV before this call, so that KV holds
   * this version once it is the one recorded (set in the same row write, which is what is billed).
   */
  private applyOutcome(
    row: NoteRow,
    outcome: NoteOutcome,
    request: RequestSettling,
    written: boolean,
    now: number,
  ): boolean {
    const kv = written ? "version + 1" : "kv_version";
    const { record } = outcome;
    const ownBinding = row.request_key === outcome.key;
    // The consumer's clock, so that the ledger's times and the record KV got agree.
    const at = Date.parse(record.updatedAt) || now;
    if (record.state === "sent") {
      if (RANK[row.state] >= RANK.sent) {
        if (ownBinding) this.exec("UPDATE notes SET request_key = NULL, frame = NULL WHERE id = ?", row.id);
        return false;
      }
      this.exec(
        `UPDATE notes SET state = 'sent', record = ?, version = version + 1, kv_version = ${kv}, attempts = ?, request_key = NULL,
           frame = NULL, dead = 0, replay_token = NULL, updated_at = ?, expires_at = ? WHERE id = ?`,
        JSON.stringify(record),
        Math.max(row.attempts, record.attempts),
        now,
        now + ROW_TTL_MS,
        row.id,
      );
      return true;
    }
    if (record.state === "failed") {
      if (RANK[row.state] >= RANK.sent || (!ownBinding && row.request_key !== null)) return false;
      const letter = outcome.deadLetter;
      this.exec(
        `UPDATE notes SET state = 'failed', record = ?, version = version + 1, kv_version = ${kv}, attempts = ?,
           request_key = NULL, dead = ?, dead_reason = ?, dead_message = ?, possibly_sent = ?, first_failure_at = ?,
           last_failure_at = ?, replay_token = NULL, updated_at = ?, expires_at = ? WHERE id = ?`,
        JSON.stringify({ ...record, firstFailureAt: iso(row.first_failure_at ?? at) }),
        Math.max(row.attempts, record.attempts),
        letter === undefined ? 0 : 1,
        letter?.reason ?? null,
        letter?.message ?? null,
        letter?.possiblySent ? 1 : 0,
        row.first_failure_at ?? at,
        at,
        now,
        now + DEAD_LETTER_TTL_MS,
        row.id,
      );
      return true;
    }
    // A transient failure: only the holder of the request may say so, and only for its own notes.
    if (!request.held || !ownBinding || RANK[row.state] >= RANK.sent) return false;
    if (outcome.ambiguous) {
      if (!request.marked) this.exec("UPDATE requests SET maybe_sent = 1 WHERE key = ?", outcome.key);
      request.marked = true;
    } else if (this.request(outcome.key)?.maybe_sent !== 1) {
      // Refused before the provider looked at it (a 429, a refused key): the notes are free again.
      request.dissolve = true;
    }
    if (row.state === "dead") return false; // filed by the dead-letter queue; its request may still settle it
    if (outcome.unchanged && row.state === "retrying") return true;
    const first = row.first_failure_at ?? at;
    this.exec(
      `UPDATE notes SET state = 'retrying', record = ?, version = version + 1, kv_version = ${kv}, attempts = ?,
         first_failure_at = ?, updated_at = ?, expires_at = ? WHERE id = ?`,
      JSON.stringify({ ...record, firstFailureAt: iso(first) }),
      Math.max(row.attempts, record.attempts),
      first,
      now,
      now + ROW_TTL_MS,
      row.id,
    );
    return true;
  }

  /**
   * The provider forgets a key after 24 h: a request unanswered that long cannot be sent again
   * safely, so its unsettled notes become `failed`, possibly sent, with a dead letter for ops.
   */
  private expire(request: RequestRow, now: number): void {
    const spec = DELIVERY_ERRORS.possibly_sent;
    for (const id of JSON.parse(request.note_ids) as string[]) {
      const row = this.note(id);
      if (row === null || row.request_key !== request.key) continue;
      const firstFailureAt = row.first_failure_at ?? request.created_at;
      const record: StatusRecord = {
        id,
        state: "failed",
        attempts: row.attempts,
        updatedAt: iso(now),
        error: spec.sentence,
        errorCode: "possibly_sent",
        firstFailureAt: iso(firstFailureAt),
      };
      this.exec(
        `UPDATE notes SET state = 'failed', record = ?, version = version + 1, request_key = NULL, dead = 1,
           dead_reason = 'possibly_sent', dead_message = ?, possibly_sent = 1, first_failure_at = ?,
           last_failure_at = ?, updated_at = ?, expires_at = ? WHERE id = ?`,
        JSON.stringify(record),
        spec.sentence,
        firstFailureAt,
        now,
        now,
        now + DEAD_LETTER_TTL_MS,
        id,
      );
    }
    this.exec("DELETE FROM requests WHERE key = ?", request.key);
  }

  /**
   * The ids of the notes request `key` still holds. Read through its composition by primary key:
   * an index on `request_key` would cost two row writes per note, a scan every row of the table.
   */
  private heldBy(key: string): string[] {
    const request = this.request(key);
    if (request === null) return [];
    return (JSON.parse(request.note_ids) as string[]).filter((id) => this.note(id)?.request_key === key);
  }

  /** Lets go of every note request `key` holds. */
  private dissolve(key: string): void {
    for (const id of this.heldBy(key)) this.exec("UPDATE notes SET request_key = NULL WHERE id = ?", id);
  }

  /**
   * Deletes request `key` once it holds no note, and with it the frames it kept for notes sent
   * meanwhile (a dead letter keeps its own); answers whether it is gone.
   */
  private dropIfEmpty(key: string): boolean {
    const request = this.request(key);
    if (request === null) return true;
    const ids = JSON.parse(request.note_ids) as string[];
    const rows = ids.map((id) => this.note(id));
    if (rows.some((row) => row?.request_key === key)) return false;
    for (const row of rows) {
      if (row !== null && row.frame !== null && RANK[row.state] >= RANK.sent) {
        this.exec("UPDATE notes SET frame = NULL WHERE id = ?", row.id);
      }
    }
    this.exec("DELETE FROM requests WHERE key = ?", key);
    return true;
  }

  private fileUndecodable(note: UndecodableNote, now: number): ClaimDecision {
    const row = this.note(note.id);
    if (row !== null && (RANK[row.state] >= RANK.sent || row.dead === 1 || row.request_key !== null)) {
      return this.settledDecision(row);
    }
    const message = `${DELIVERY_ERRORS.undecodable.sentence} ${note.problem}`;
    const record: StatusRecord | null = note.isNoteId
      ? {
          id: note.id,
          state: "failed",
          attempts: note.attempts,
          updatedAt: iso(now),
          error: message,
          errorCode: "undecodable",
          firstFailureAt: iso(now),
        }
      : null;
    this.upsert(note, now);
    this.exec(
      `UPDATE notes SET state = 'failed', record = ?, version = version + ?, frame = ?, replayed_at = ?, dead = 1,
         dead_reason = 'undecodable', dead_message = ?, possibly_sent = 0, first_failure_at = ?,
         last_failure_at = ?, updated_at = ?, expires_at = ? WHERE id = ?`,
      record === null ? null : JSON.stringify(record),
      record === null ? 0 : 1,
      note.frame,
      note.replayedAt ?? null,
      message,
      now,
      now,
      now,
      now + DEAD_LETTER_TTL_MS,
      note.id,
    );
    return this.settledDecision(this.note(note.id) as NoteRow);
  }

  private settledDecision(row: NoteRow): ClaimDecision {
    return {
      kind: "settled",
      record: row.record === null ? null : (JSON.parse(row.record) as StatusRecord),
      behind: row.kv_version < row.version,
      version: row.version,
    };
  }
}

function sendDecision(key: string, row: NoteRow | null): ClaimDecision {
  const decision: ClaimDecision = { kind: "send", key };
  if (row?.first_failure_at != null) decision.firstFailureAt = iso(row.first_failure_at);
  if (row?.state === "retrying" && row.record !== null) {
    const code = (JSON.parse(row.record) as StatusRecord).errorCode;
    if (code !== undefined) decision.retrying = code;
  }
  return decision;
}

/** A replay's message may send a failed note again; any other copy of it is a stale redelivery. */
function replays(note: ClaimNote, row: NoteRow): boolean {
  return note.replayedAt !== undefined && note.replayedAt === row.replay_token;
}

function waitSeconds(request: RequestRow, now: number): number {
  return Math.max(1, Math.ceil((request.lease_until - now) / 1000) + 1);
}

function deadLetterOf(row: NoteRow): DeadLetter {
  const letter: DeadLetter = {
    id: row.id,
    frame: row.frame === null ? "" : new Uint8Array(row.frame).toBase64(),
    reason: (row.dead_reason ?? "retries_exhausted") as DeadLetter["reason"],
    message: row.dead_message ?? "",
    attempts: row.attempts,
    firstFailureAt: iso(row.first_failure_at ?? row.updated_at),
    lastFailureAt: iso(row.last_failure_at ?? row.updated_at),
    possiblySent: row.possibly_sent === 1,
    acceptedAt: row.accepted_at,
  };
  if (row.replayed_at !== null) letter.replayedAt = row.replayed_at;
  return letter;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
