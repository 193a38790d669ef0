/**
 * The delivery ledger: one SQLite-backed Durable Object, the single authority on every note. KV is
 * eventually consistent, has no compare-and-set and fails for hours at a time; a Durable Object is
 * one strongly consistent, transactional owner, so two overlapping invocations, a redelivery, a
 * replay and a webhook all see the same truth and move a note only forward.
 *
 * This file is the object's RPC surface: each method is one synchronous transaction (the runtime
 * may kill the caller at any await, never halfway through a method) over notes.ts (a note's row
 * and its one transition writer) and requests.ts (requests and their leases). The tables and the
 * schema version: schema.ts. workers/deliver/README.md ("The delivery ledger") tells the story.
 */

import { DurableObject } from "cloudflare:workers";
import { decodeFrame } from "@notepipe/frame";
import { type DeliveryErrorCode, type LedgerUsage, type NoteState, STATUS_TTL_SECONDS } from "@notepipe/pipeline";
import { hasAlertChannel, sendNotices } from "../alerts/notify.ts";
import { DELIVERY_ERRORS } from "../queue/outcomes.ts";
import { type AlertNotice, alertSettingsOf, confirmAlerts, dueAlerts, nextAlertAt, recordAnswers } from "./alerts.ts";
import { circuitStats, Router, settleCircuits } from "./circuits.ts";
import { beginCounting, readCounts, writeCounts } from "./counters.ts";
import { meterFor, plainExec, unmetered } from "./metering.ts";
import {
  deadLetterOf,
  deleteExpired,
  isSettled,
  markKvBehind,
  markReplay,
  markSynced,
  moveNote,
  noteOf,
  releaseSent,
  statusRecordOf,
} from "./notes.ts";
import { buildOverview, readAlertInputs, readWatchedAlertInputs } from "./overview.ts";
import type { Overview } from "./overview-types.ts";
import {
  claimFresh,
  dissolve,
  dropIfEmpty,
  extendLeases,
  isInFlight,
  leaseUntil,
  letGo,
  markMaybeSent,
  planHeld,
  releaseExpired,
  requestOf,
  waitSeconds,
} from "./requests.ts";
import { type Exec, ensureSchema, type NoteRow, RANK } from "./schema.ts";
import { beginSeries, countingRowsWritten, countSeries, pruneSeries, rollUpHours, writeSeries } from "./series.ts";
import { type NoteTimeline, timelineOf } from "./timeline.ts";
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
} from "./types.ts";

/**
 * Rows one prune deletes at most, so that a run holds the object for tens of milliseconds whatever
 * the backlog: the ledger soak measured ~46–51 µs of CPU per row pruned on a busy 2-core machine
 * (docs/BENCHMARKS.md, "Delivery ledger soak"). A full batch runs again on the alarm a second
 * later: at 1M notes a day, ~3,500 rows fall due every 5 minutes, 7 batches.
 */
export const PRUNE_BATCH = 500;
const PRUNE_AGAIN_MS = 1_000;
/** The client calls a note `expired` this long after acceptance: a record KV never took is no use after. */
const STATUS_TTL_MS = STATUS_TTL_SECONDS * 1000;

/** One request's part in a settle call. */
interface RequestSettling {
  /** The caller holds the request's lease, so its transient failures count. */
  held: boolean;
  /** Refused before the provider looked at it: its notes are let go. */
  dissolve: boolean;
  /** Its `maybe_sent` was set in this call already. */
  marked?: boolean;
  /** The provider it went to, for its circuit (circuits.ts). */
  provider: string | null;
}

export class DeliveryLedger extends DurableObject<Env> {
  private readonly meter: ReturnType<typeof meterFor>;
  private readonly exec: Exec;
  private readonly since = new Date().toISOString();
  /** Alerts have a channel (notify.ts): only then does the alarm look for them. */
  private readonly alerting: boolean;
  /** The alarm set in storage, so that a call moves it earlier without an await; read once at start. */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ensureSchema(ctx.storage);
    this.meter = meterFor(env);
    this.exec = countingRowsWritten(this.meter?.exec(ctx.storage.sql) ?? plainExec(ctx.storage.sql));
    this.alerting = hasAlertChannel(env);
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** The ledger's one clock, so that a bench (bench/workers/ledger-soak/) can run it on simulated days. */
  protected now(): number {
    return Date.now();
  }

  /** Runs `work` as one transaction, counted as one Durable Object request. */
  private call<T>(method: string, work: () => T): T {
    this.meter?.request(method);
    let alertAt: number | null = null;
    const result = this.ctx.storage.transactionSync(() => {
      beginCounting();
      beginSeries();
      const result = work();
      writeCounts(this.exec);
      writeSeries(this.exec, this.now());
      // Any call may begin or end a condition (a settle's refusal, a dead letter, a replay): the
      // alarm is set for the next alert due, so it goes out on time with no Cron (alerts.ts).
      if (this.alerting) {
        const now = this.now();
        alertAt = nextAlertAt(this.exec, readWatchedAlertInputs(this.exec), alertSettingsOf(this.env), now);
      }
      return result;
    });
    if (alertAt !== null) this.wakeAt(alertAt);
    return result;
  }

  /**
   * Moves the alarm to `at` if that is earlier, never later: a prune's next batch or an earlier
   * alert keeps its time, and the alarm handler sets the next one. Not awaited: like any storage
   * write, it is durable before the call's answer leaves the object (its output gate).
   */
  private wakeAt(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  usage(): LedgerUsage {
    this.meter?.request("usage");
    return this.meter?.usage() ?? unmetered(this.since);
  }

  /**
   * Before a send: which notes of the batch go out, in which request, and which are settled or
   * held elsewhere. A new note joins the batch's new request; a note held by a request that went
   * unanswered (its lease ran out) makes that identical request go out again; a note held by a
   * request in flight in another invocation waits for it.
   */
  claim(input: ClaimInput): ClaimResult {
    // Each note claimed is one queue delivery (a read), whatever becomes of it.
    this.meter?.claimedNotes(input.notes.length);
    return this.call("claim", () => {
      const now = this.now();
      countSeries("messages", input.notes.length + input.undecodable.length);
      const decisions: Record<string, ClaimDecision> = {};
      const plans = new Map<string, SendPlan | ClaimDecision>();
      const inBatch = new Set(input.notes.map((note) => note.id));
      const fresh: ClaimNote[] = [];
      const router = input.failover === undefined ? undefined : new Router(this.exec, input.failover, now);

      for (const note of input.notes) {
        const row = noteOf(this.exec, note.id);
        if (row?.request_key != null) {
          const decided =
            plans.get(row.request_key) ?? planHeld(this.exec, row.request_key, input, inBatch, now, router);
          plans.set(row.request_key, decided);
          decisions[note.id] = "notes" in decided ? sendDecision(decided.key, row) : this.afterPlan(note.id, decided);
        } else if (row === null || row.state === "queued" || row.state === "retrying") {
          fresh.push(note);
        } else if ((row.state === "failed" || row.state === "dead") && replays(note, row)) {
          fresh.push(note);
        } else {
          decisions[note.id] = settledDecision(row);
        }
      }

      const sends = [...plans.values()].filter((plan): plan is SendPlan => "notes" in plan);
      const until = leaseUntil(input, sends.length + (fresh.length > 0 ? 1 : 0), now);
      if (fresh.length > 0) {
        sends.push(claimFresh(this.exec, fresh, input, now, until, router?.choose() ?? null));
        for (const note of fresh) decisions[note.id] = sendDecision(input.newKey, noteOf(this.exec, note.id));
      }
      for (const note of input.undecodable) decisions[note.id] = this.fileUndecodable(note, now);
      extendLeases(this.exec, sends, input, until);
      router?.finish(until);
      return { decisions, sends };
    });
  }

  /**
   * After the provider answered (or did not): each note's outcome, in one transaction. A fact from
   * the provider (accepted, rejected) is recorded whoever reports it; a transient failure only by
   * the invocation that holds the request, which then lets go of it.
   */
  settle(input: SettleInput): SettleResult {
    this.meter?.kvWrites(input.written.length);
    return this.call("settle", () => {
      const now = this.now();
      countSeries("kv_writes", input.written.length);
      recordAnswers(this.exec, input.outcomes, now);
      const written = new Set(input.written);
      const keys = new Map<string, RequestSettling>();

      for (const outcome of input.outcomes) {
        let request = keys.get(outcome.key);
        if (request === undefined) {
          const row = requestOf(this.exec, outcome.key);
          request = {
            held: row !== null && row.holder === input.holder,
            dissolve: false,
            provider: row?.provider ?? null,
          };
          keys.set(outcome.key, request);
        }
        const row = noteOf(this.exec, outcome.id);
        if (row === null) continue;
        const wrote = written.has(outcome.id);
        if (!this.applyOutcome(row, outcome, request, wrote, now) && wrote && row.state !== outcome.record.state) {
          markKvBehind(this.exec, row.id);
        }
      }

      if (input.circuit !== undefined) {
        settleCircuits(this.exec, input.outcomes, (key) => keys.get(key)?.provider ?? null, input.circuit, now);
      }
      for (const [key, request] of keys) {
        if (request.dissolve) dissolve(this.exec, key);
        if (!dropIfEmpty(this.exec, key) && request.held) letGo(this.exec, key);
      }
      const result: SettleResult = {};
      for (const outcome of input.outcomes) {
        const row = noteOf(this.exec, outcome.id);
        const record = row === null ? null : statusRecordOf(row);
        if (row === null || record === null) continue;
        result[outcome.id] = { record, done: row.request_key === null };
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
    keyless?: string[],
  ): Record<string, ClaimDecision> {
    return this.call("fileDeadLetters", () => {
      const now = this.now();
      countSeries("messages", notes.length + undecodable.length);
      const decisions: Record<string, ClaimDecision> = {};
      for (const note of notes) {
        const row = noteOf(this.exec, note.id);
        const request = row?.request_key == null ? null : requestOf(this.exec, row.request_key);
        if (request !== null && isInFlight(request, now)) {
          decisions[note.id] = { kind: "wait", seconds: waitSeconds(request, now) };
          continue;
        }
        if (row !== null && (isSettled(row) || row.state === "failed" || row.state === "dead")) {
          decisions[note.id] = settledDecision(row);
          continue;
        }
        const reason = (row?.error_code ?? "retries_exhausted") as DeliveryErrorCode;
        const attempts = Math.max(row?.attempts ?? 0, note.attempts);
        const error =
          row?.error == null
            ? `${DELIVERY_ERRORS.retries_exhausted.sentence} No attempt left a record of why.`
            : `Retries ran out after ${attempts} attempt(s). The last: ${row.error}`;
        const filed = moveNote(
          this.exec,
          note.id,
          row ?? null,
          {
            to: "dead",
            failure: { error, code: reason, at: now },
            // Still held by its request, the note goes out again only as that same request, which a
            // provider with keys answers from its key: a replay cannot send it twice. Without keys it can.
            possiblySent:
              !keyedAt(request?.provider, idempotent, keyless) &&
              (request?.maybe_sent === 1 || request?.holder != null),
            frame: note.frame,
            acceptedAt: note.acceptedAt,
            attempts,
          },
          now,
        );
        decisions[note.id] = settledDecision(filed);
      }
      for (const note of undecodable) decisions[note.id] = this.fileUndecodable(note, now);
      return decisions;
    });
  }

  /** A provider's delivery event: moves the note forward only, each event once. */
  applyEvent(event: { noteId: string; state: NoteState; eventId: string; error?: string }): EventOutcome {
    return this.call("applyEvent", () => {
      const now = this.now();
      const row = noteOf(this.exec, event.noteId);
      if (row === null) return { kind: "unknown" };
      if (row.event_id === event.eventId) return { kind: "duplicate" };
      if (RANK[event.state] <= RANK[row.state]) return { kind: "not_newer" };
      // Proof that the note went out: no request holds it any more, no dead letter lists it.
      const moved = moveNote(
        this.exec,
        row.id,
        row,
        { to: "event", state: event.state, eventId: event.eventId, error: event.error ?? null, at: now },
        now,
      );
      if (row.request_key !== null) dropIfEmpty(this.exec, row.request_key);
      const record = statusRecordOf(moved);
      return record === null ? { kind: "unknown" } : { kind: "applied", record, version: moved.version };
    });
  }

  /** The caller's KV writes of these versions went through. */
  synced(entries: { id: string; version: number }[]): void {
    this.meter?.kvWrites(entries.length);
    this.call("synced", () => {
      countSeries("kv_writes", entries.length);
      for (const { id, version } of entries) markSynced(this.exec, id, version);
    });
  }

  /** Records KV may not hold yet, oldest first, leaving out those written in the last `quietMs`. */
  behind(limit: number, quietMs: number): BehindRecord[] {
    return this.call("behind", () => {
      const before = this.now() - quietMs;
      // Only notes have records: the filter is in the query, before its LIMIT.
      return this.exec<NoteRow>(
        `SELECT * FROM notes WHERE kv_version < version AND updated_at <= ? AND id NOT LIKE 'msg-%'
           ORDER BY updated_at LIMIT ?`,
        before,
        limit,
      ).rows.flatMap((row) => {
        const record = statusRecordOf(row);
        return record === null ? [] : [{ record, version: row.version }];
      });
    });
  }

  listDeadLetters(query: DeadLetterQuery): DeadLetterPage {
    return this.call("listDeadLetters", () => {
      const where = ["dead_letter = 1", "id > ?"];
      const bindings: SqlStorageValue[] = [query.after ?? ""];
      if (query.reason !== undefined) {
        where.push("error_code = ?");
        bindings.push(query.reason);
      }
      if (query.since !== undefined) {
        where.push("last_failure_at >= ?");
        bindings.push(query.since);
      }
      const rows = this.exec<NoteRow>(
        `SELECT * FROM notes WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`,
        ...bindings,
        query.limit + 1,
      ).rows;
      const page = rows.slice(0, query.limit);
      return {
        deadLetters: page.map(deadLetterOf),
        cursor: rows.length > query.limit ? (page.at(-1)?.id ?? null) : null,
      };
    });
  }

  /**
   * A replay's first step: the entries to put back on the queue, each marked with the replay's
   * token (its `replayedAt`). Only a message carrying that token may send a failed note again.
   * Past `maxFrameBytes` of frames (always after the first), the ids left are answered untouched
   * in `unstarted`, in order: a request puts only so many bytes on the queue.
   */
  beginReplay(ids: string[], token: number, includePossiblySent: boolean, maxFrameBytes = Infinity): ReplayStart {
    return this.call("beginReplay", () => {
      const start: ReplayStart = { replay: [], skipped: [], unstarted: [] };
      let bytes = 0;
      for (const [i, id] of ids.entries()) {
        const row = noteOf(this.exec, id);
        const frameBytes = row?.frame == null ? 0 : row.frame.byteLength;
        if (start.replay.length > 0 && bytes + frameBytes > maxFrameBytes) {
          start.unstarted = ids.slice(i);
          break;
        }
        if (row === null) start.skipped.push({ id, reason: "not_found" });
        else if (isSettled(row)) start.skipped.push({ id, reason: "already_sent" });
        else if (row.dead_letter === 0) {
          start.skipped.push({ id, reason: row.state === "failed" ? "not_found" : "already_queued" });
        } else if (row.possibly_sent === 1 && !includePossiblySent) {
          start.skipped.push({ id, reason: "possibly_sent" });
        } else if (row.frame === null || !decodeFrame(new Uint8Array(row.frame)).ok) {
          start.skipped.push({ id, reason: "undecodable" });
        } else {
          markReplay(this.exec, id, token);
          start.replay.push({ id, frame: new Uint8Array(row.frame), acceptedAt: row.accepted_at });
          bytes += frameBytes;
        }
      }
      return start;
    });
  }

  /** A replay's last step, once its messages are queued: the notes are `queued`, their entries gone. */
  finishReplay(ids: string[], token: number): BehindRecord[] {
    return this.call("finishReplay", () => {
      const now = this.now();
      const records: BehindRecord[] = [];
      for (const id of ids) {
        const row = noteOf(this.exec, id);
        if (row === null || row.replay_token !== token || row.dead_letter === 0) continue;
        const queued = moveNote(this.exec, id, row, { to: "queued", at: now }, now);
        const record = statusRecordOf(queued);
        if (record !== null) records.push({ record, version: queued.version });
      }
      return records;
    });
  }

  /** An operator gives up on a dead letter: the note is `failed` (discarded) and never sent. */
  discard(id: string, now = this.now()): DiscardResult {
    return this.call("discard", () => {
      const row = noteOf(this.exec, id);
      if (row === null || row.dead_letter === 0) {
        return row !== null && (RANK[row.state] === RANK.queued || row.request_key !== null)
          ? { kind: "in_queue" }
          : { kind: "not_found" };
      }
      const request = row.request_key === null ? null : requestOf(this.exec, row.request_key);
      // Being sent right now: the send's answer settles it. Held by a request nobody sends any
      // more, it is let go of (the request keeps its frame while it exists).
      if (request !== null && isInFlight(request, now)) return { kind: "in_queue" };
      const discarded = moveNote(this.exec, id, row, { to: "discarded", at: now }, now);
      if (row.request_key !== null) dropIfEmpty(this.exec, row.request_key);
      return { kind: "discarded", record: statusRecordOf(discarded), version: discarded.version };
    });
  }

  stats(): LedgerStats {
    return this.call("stats", () => {
      // Before its own queries: a reading does not count the rows it reads to count.
      const usage = this.meter?.usage() ?? unmetered(this.since);
      // `requests` holds only the requests in flight or unanswered, a few batches' worth: its scan is small.
      const unanswered =
        this.exec<{ n: number }>("SELECT count(*) AS n FROM requests WHERE lease_until <= ?", this.now()).rows[0]?.n ??
        0;
      return { ...readCounts(this.exec), unanswered, circuits: circuitStats(this.exec), usage };
    });
  }

  /** The ops overview (overview.ts): one call a page. */
  overview(): Overview {
    return this.call("overview", () => buildOverview(this.exec, this.now(), alertSettingsOf(this.env)));
  }

  /** The alerts to send now (alerts.ts), each held for this caller until {@link confirmAlerts}. */
  dueAlerts(): { notices: AlertNotice[]; at: number } {
    return this.call("dueAlerts", () => {
      const now = this.now();
      return {
        notices: dueAlerts(this.exec, readAlertInputs(this.exec, now), alertSettingsOf(this.env), now),
        at: now,
      };
    });
  }

  /** These notices, handed out at `at`, went out. */
  confirmAlerts(notices: AlertNotice[], at: number): void {
    this.call("confirmAlerts", () => confirmAlerts(this.exec, notices, at));
  }

  /** One note's steps for the ops console (timeline.ts): never its frame's nonce or ciphertext. */
  timeline(id: string): NoteTimeline | null {
    return this.call("timeline", () => {
      const row = noteOf(this.exec, id);
      if (row === null) return null;
      const decoded = row.frame === null ? null : decodeFrame(new Uint8Array(row.frame));
      return timelineOf(row, decoded?.ok ? decoded.frame.recipient : null);
    });
  }

  /**
   * Drops up to PRUNE_BATCH rows past their time (schema.ts), oldest first; answers how many went.
   * The Cron runs it every 5 minutes; a full batch means more are due, and the object's alarm runs
   * it again a second later until they are gone, so pruning keeps up with any rate the object takes.
   */
  async prune(): Promise<number> {
    const now = this.now();
    const pruned = this.call("prune", () => {
      releaseExpired(this.exec, now, PRUNE_BATCH);
      rollUpHours(this.exec, now);
      pruneSeries(this.exec, now);
      return deleteExpired(this.exec, now, now - STATUS_TTL_MS, PRUNE_BATCH);
    });
    if (pruned === PRUNE_BATCH) {
      // A known alarm already past is firing now, or its work was done by a prune run in its
      // place (the ledger soak runs the alarm's prunes itself): the next batch replaces it, which
      // delays whatever else it had due by a second at most.
      if (this.alarmAt !== null && this.alarmAt <= now) this.alarmAt = null;
      this.wakeAt(now + PRUNE_AGAIN_MS);
    }
    return pruned;
  }

  /**
   * The alerts due go out (the Cron's run does the same, as a backstop), and a prune that found
   * more rows due than one batch goes on. Killed at any await, a notice handed out and not
   * confirmed is handed out again once its lease ends: the call that leased it set the alarm for then.
   */
  override async alarm(): Promise<void> {
    // This alarm is spent; every call below sets the next one it needs.
    this.alarmAt = null;
    if (this.alerting) {
      const { notices, at } = this.dueAlerts();
      if (notices.length > 0 && (await sendNotices(this.env, notices))) this.confirmAlerts(notices, at);
    }
    await this.prune();
  }

  // --- inside a transaction ---

  /** A note whose held request was just planned: what it became if that request expired. */
  private afterPlan(id: string, decided: ClaimDecision): ClaimDecision {
    if (decided.kind !== "settled") return decided;
    return settledDecision(noteOf(this.exec, id) as NoteRow);
  }

  /**
   * `written`: the consumer wrote the outcome's record to KV before this call, so that KV holds
   * this version once it is the one recorded (set in the same row write, which is what is billed).
   * Answers whether the note moved.
   */
  private applyOutcome(
    row: NoteRow,
    outcome: NoteOutcome,
    request: RequestSettling,
    written: boolean,
    now: number,
  ): boolean {
    const { record } = outcome;
    const ownBinding = row.request_key === outcome.key;
    // The consumer's clock, so that the ledger's times and the record KV got agree.
    const at = Date.parse(record.updatedAt) || now;
    const attempts = record.attempts;
    if (record.state === "sent") {
      if (isSettled(row)) {
        if (ownBinding) releaseSent(this.exec, row.id);
        return false;
      }
      const providerId = record.providerId ?? null;
      moveNote(this.exec, row.id, row, { to: "sent", providerId, attempts, at, kv: written }, now);
      return true;
    }
    // A failed or retrying record always carries its code and sentence (queue/deliver-notes.ts).
    const failure = { error: record.error ?? "", code: record.errorCode ?? "unexpected_response", at };
    if (record.state === "failed") {
      // Another request's refusal does not speak for a note held elsewhere, or given up on already.
      if (isSettled(row) || (!ownBinding && (row.request_key !== null || RANK[row.state] === RANK.failed))) {
        return false;
      }
      const letter = outcome.deadLetter === undefined ? null : { possiblySent: outcome.deadLetter.possiblySent };
      moveNote(this.exec, row.id, row, { to: "failed", failure, letter, attempts, kv: written }, now);
      return true;
    }
    // A transient failure: only the holder of the request may say so, and only for its own notes.
    if (!request.held || !ownBinding || isSettled(row)) return false;
    if (outcome.ambiguous) {
      if (!request.marked) markMaybeSent(this.exec, outcome.key);
      request.marked = true;
    } else if (requestOf(this.exec, outcome.key)?.maybe_sent !== 1) {
      // Refused before the provider looked at it (a 429, a refused key): the notes are free again.
      request.dissolve = true;
    }
    // A dead letter its request still holds stays one: only the request's answer settles it.
    if (row.dead_letter === 1) return false;
    if (outcome.unchanged && row.state === "retrying") return true;
    const nextAttemptAt = record.nextAttemptAt === undefined ? null : Date.parse(record.nextAttemptAt);
    moveNote(this.exec, row.id, row, { to: "retrying", failure, nextAttemptAt, attempts, kv: written }, now);
    return true;
  }

  private fileUndecodable(note: UndecodableNote, now: number): ClaimDecision {
    const row = noteOf(this.exec, note.id);
    if (row !== null && (isSettled(row) || row.dead_letter === 1 || row.request_key !== null)) {
      return settledDecision(row);
    }
    const error = `${DELIVERY_ERRORS.undecodable.sentence} ${note.problem}`;
    const filed = moveNote(
      this.exec,
      note.id,
      row,
      {
        to: "undecodable",
        failure: { error, code: "undecodable", at: now },
        frame: note.frame,
        replayedAt: note.replayedAt ?? null,
        acceptedAt: note.acceptedAt,
        attempts: note.attempts,
      },
      now,
    );
    return settledDecision(filed);
  }
}

function settledDecision(row: NoteRow): ClaimDecision {
  return { kind: "settled", record: statusRecordOf(row), behind: row.kv_version < row.version, version: row.version };
}

function sendDecision(key: string, row: NoteRow | null): ClaimDecision {
  const decision: ClaimDecision = { kind: "send", key };
  if (row?.first_failure_at != null) decision.firstFailureAt = new Date(row.first_failure_at).toISOString();
  if (row?.state === "retrying" && row.error_code !== null) {
    decision.retrying = row.error_code as DeliveryErrorCode;
  }
  return decision;
}

/**
 * Whether the provider a request went to keeps idempotency keys: by its name when failover lists
 * the providers without keys (`keyless`), else the one provider's `idempotent`.
 */
function keyedAt(provider: string | null | undefined, idempotent: boolean, keyless: string[] | undefined): boolean {
  return provider == null || keyless === undefined ? idempotent : !keyless.includes(provider);
}

/** A replay's message may send a failed note again; any other copy of it is a stale redelivery. */
function replays(note: ClaimNote, row: NoteRow): boolean {
  return note.replayedAt !== undefined && note.replayedAt === row.replay_token;
}
