/**
 * The delivery ledger under a soak: deliver's own `DeliveryLedger` class, its clock the one seam the
 * bench asks of it (`now()`), driven day by day by bench/ledger-soak.ts through the bench methods
 * below. Each method runs one phase of a simulated round (claims, settles, webhook events, the Cron
 * runs) by calling the ledger's own RPC methods in-process, as many times as the round holds, so
 * that the workerd process's CPU across one phase, read by the bench from /proc, divides by the
 * phase's calls. The rows each call reads and writes are the storage API's own cursor counts. A
 * webhook event counts as one call: `applyEvent`, then `synced` once KV took the record.
 */

import type { StatusRecord } from "@notepipe/pipeline";
import { DeliveryLedger } from "../../../workers/deliver/src/ledger/ledger.ts";
import { plainExec } from "../../../workers/deliver/src/ledger/metering.ts";
import type { NoteRow } from "../../../workers/deliver/src/ledger/schema.ts";
import { beginSeries, countAnswers, countMove, writeSeries } from "../../../workers/deliver/src/ledger/series.ts";
import type { ClaimInput, NoteOutcome, SendPlan } from "../../../workers/deliver/src/ledger/types.ts";

/** What one simulated day is made of; bench/ledger-soak.ts prints it beside the figures. */
export interface SoakSpec {
  /** Real notes claimed per simulated day (the day's million divided by the bench's scale). */
  notesPerDay: number;
  roundsPerDay: number;
  /** Cron runs (`behind` + `prune`) per round: wrangler.deliver.toml's every 5 minutes. */
  cronRunsPerRound: number;
  frameBytes: number;
  /** Shares of fresh notes: a transient failure first (then sent a round later), a permanent one. */
  transientShare: number;
  permanentShare: number;
  /** Copies of notes already sent that come back (a client's re-post whose 202 was lost). */
  duplicateShare: number;
  /** Sent notes whose `delivered` webhook arrives. */
  webhookShare: number;
  /** Where simulated time starts, ms since the epoch. */
  startMs: number;
}

/** What one phase did: calls, and the rows they read and wrote. */
export interface PhaseTally {
  calls: number;
  notes: number;
  rowsRead: number;
  rowsWritten: number;
  /** Rows the Cron's prune removed (cron phase only). */
  pruned?: number;
}

export interface Census {
  notes: number;
  requests: number;
  deadLetters: number;
  /** `ctx.storage.sql.databaseSize`: the bytes the object is billed for and capped at. */
  databaseBytes: number;
}

/**
 * `idle` does nothing: the floor of a phase request (HTTP, RPC, the tally), taken off each phase.
 * `overview` is one ops overview page (`overview()`); `series` is the time series' share of a
 * settle of 100 sent notes alone (its bookkeeping and its one row write), outside any settle.
 */
export type Phase = "idle" | "claims" | "settles" | "events" | "cron" | "overview" | "series";

/** Series-only settles per round: enough calls for the CPU counters to resolve one. */
const SERIES_CALLS_PER_ROUND = 20;

const DAY_MS = 24 * 60 * 60 * 1000;
const CRON_EVERY_MS = 5 * 60 * 1000;
/** The consumer's lease and Resend's key window less a margin, as deliver-notes.ts passes them. */
const LEASE_MS = 60_000;
const KEY_WINDOW_MS = 23 * 60 * 60 * 1000;
/** repair.ts: REPAIR_BATCH records a run, none written in the last minute. */
const REPAIR_BATCH = 200;
const QUIET_MS = 60_000;

type Fate = "sent" | "transient" | "permanent";

interface SoakNote {
  id: string;
  fate: Fate;
  attempts: number;
  acceptedAt: number;
}

interface ClaimedBatch {
  holder: string;
  at: number;
  notes: Map<string, SoakNote>;
  sends: SendPlan[];
}

/** Counts the rows of every cursor the ledger opens: read at the end of a phase, when each is read to its end. */
function meterRows(sql: SqlStorage): SqlStorageCursor<Record<string, SqlStorageValue>>[] {
  const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = [];
  const exec = sql.exec.bind(sql);
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const cursor = exec(query, ...bindings);
    cursors.push(cursor);
    return cursor;
  }) as SqlStorage["exec"];
  return cursors;
}

/**
 * Holds the ledger's alarm instead of setting it: the cron phase runs the alarm's prune itself, at
 * the simulated time, where its CPU is counted (a real alarm would fire between phases).
 */
function holdAlarm(storage: DurableObjectStorage, held: { at: number | null }): void {
  storage.setAlarm = async (at: number | Date) => {
    held.at = typeof at === "number" ? at : at.getTime();
  };
}

interface SoakState {
  spec: SoakSpec;
  clock: number;
  cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[];
  frame: Uint8Array;
  /** Claimed in this round's claims phase, settled in its settles phase. */
  claimed: ClaimedBatch[];
  /** Failed transiently: claimed again next round. */
  retrying: SoakNote[];
  /** Sent this round: their webhooks, and the pool a duplicate copy is drawn from. */
  sent: string[];
  recentlySent: string[];
  batchNumber: number;
  alarm: { at: number | null };
}

export class SoakLedger extends DeliveryLedger {
  private readonly soak: SoakState;

  constructor(ctx: DurableObjectState, env: Env) {
    const cursors = meterRows(ctx.storage.sql);
    const alarm = { at: null };
    holdAlarm(ctx.storage, alarm);
    super(ctx, env);
    this.soak = {
      spec: undefined as unknown as SoakSpec,
      clock: Date.now(),
      cursors,
      frame: new Uint8Array(0),
      claimed: [],
      retrying: [],
      sent: [],
      recentlySent: [],
      batchNumber: 0,
      alarm,
    };
  }

  protected override now(): number {
    return this.soak.clock;
  }

  soakStart(spec: SoakSpec): void {
    this.soak.spec = spec;
    this.soak.clock = spec.startMs;
    this.soak.frame = new Uint8Array(spec.frameBytes);
    crypto.getRandomValues(this.soak.frame);
  }

  /** Runs one phase of round `round` of day `day`. */
  async soakPhase(phase: Phase, day: number, round: number): Promise<PhaseTally> {
    const { spec } = this.soak;
    const roundMs = DAY_MS / spec.roundsPerDay;
    const start = spec.startMs + day * DAY_MS + round * roundMs;
    this.soak.cursors.length = 0;
    const tally: PhaseTally = { calls: 0, notes: 0, rowsRead: 0, rowsWritten: 0 };
    if (phase === "claims") this.claims(start, roundMs, tally);
    else if (phase === "settles") this.settles(tally);
    else if (phase === "events") this.events(start, roundMs, tally);
    else if (phase === "cron") await this.cron(start, tally);
    else if (phase === "overview") this.overviewPage(start, roundMs, tally);
    else if (phase === "series") this.seriesOfSettles(start, roundMs, tally);
    for (const cursor of this.soak.cursors) {
      tally.rowsRead += cursor.rowsRead;
      tally.rowsWritten += cursor.rowsWritten;
    }
    this.soak.cursors.length = 0;
    return tally;
  }

  /** What the object holds: counted with scans, outside every measured phase. */
  soakCensus(): Census {
    const count = (query: string) => this.ctx.storage.sql.exec<{ n: number }>(query).one().n;
    const census: Census = {
      notes: count("SELECT count(*) AS n FROM notes"),
      requests: count("SELECT count(*) AS n FROM requests"),
      deadLetters: count("SELECT count(*) AS n FROM notes WHERE dead_letter = 1"),
      databaseBytes: this.ctx.storage.sql.databaseSize,
    };
    this.soak.cursors.length = 0;
    return census;
  }

  private claims(start: number, roundMs: number, tally: PhaseTally): void {
    const { spec } = this.soak;
    const fresh = Math.round(spec.notesPerDay / spec.roundsPerDay);
    const notes: SoakNote[] = this.soak.retrying.map((note) => ({
      ...note,
      fate: "sent",
      attempts: note.attempts + 1,
    }));
    this.soak.retrying = [];
    for (let i = 0; i < fresh; i++) {
      const u = Math.random();
      const fate: Fate =
        u < spec.permanentShare ? "permanent" : u < spec.permanentShare + spec.transientShare ? "transient" : "sent";
      notes.push({ id: crypto.randomUUID(), fate, attempts: 1, acceptedAt: start });
    }
    const pool = this.soak.recentlySent;
    for (let i = 0; i < Math.round(fresh * spec.duplicateShare) && pool.length > 0; i++) {
      const id = pool[Math.floor(Math.random() * pool.length)] as string;
      notes.push({ id, fate: "sent", attempts: 1, acceptedAt: start });
    }
    this.soak.recentlySent = this.soak.sent;
    this.soak.sent = [];
    const batches = Math.ceil(notes.length / 100);
    for (let b = 0; b < batches; b++) {
      const batch = notes.slice(b * 100, (b + 1) * 100);
      this.soak.clock = start + (b * roundMs) / batches;
      const holder = `soak-${this.soak.batchNumber++}`;
      const input: ClaimInput = {
        holder,
        newKey: crypto.randomUUID(),
        fromJson: '"notepipe <notes@notepipe.dev>"',
        subjectJson: '"Encrypted Note"',
        leaseMs: LEASE_MS,
        keyWindowMs: KEY_WINDOW_MS,
        notes: batch.map((note) => ({
          id: note.id,
          frame: this.soak.frame,
          acceptedAt: note.acceptedAt,
          attempts: note.attempts,
        })),
        undecodable: [],
      };
      const result = this.claim(input);
      tally.calls++;
      tally.notes += batch.length;
      this.soak.claimed.push({
        holder,
        at: this.soak.clock,
        notes: new Map(batch.map((note) => [note.id, note])),
        sends: result.sends,
      });
    }
  }

  private settles(tally: PhaseTally): void {
    for (const batch of this.soak.claimed) {
      // The provider answers within seconds of the claim.
      this.soak.clock = batch.at + 2_000;
      const at = new Date(this.soak.clock).toISOString();
      const outcomes: NoteOutcome[] = [];
      for (const plan of batch.sends) {
        for (const { id } of plan.notes) {
          const note = batch.notes.get(id);
          if (note === undefined) continue;
          outcomes.push(outcomeOf(note, plan.key, at));
          if (note.fate === "sent") this.soak.sent.push(id);
          else if (note.fate === "transient") this.soak.retrying.push(note);
        }
      }
      if (outcomes.length === 0) continue;
      this.settle({ holder: batch.holder, outcomes, written: outcomes.map((outcome) => outcome.id) });
      tally.calls++;
      tally.notes += outcomes.length;
    }
    this.soak.claimed = [];
  }

  /** One overview page at the round's end, as an operator would load it. */
  private overviewPage(start: number, roundMs: number, tally: PhaseTally): void {
    this.soak.clock = start + roundMs - 1;
    this.overview();
    tally.calls++;
  }

  /** What the series adds to a settle of 100 sent notes, alone: each note's move counted, the answer, the row. */
  private seriesOfSettles(start: number, roundMs: number, tally: PhaseTally): void {
    this.soak.clock = start + roundMs - 1;
    const exec = plainExec(this.ctx.storage.sql);
    const at = new Date(this.soak.clock).toISOString();
    const moves = Array.from({ length: 100 }, (_, i) => {
      const id = `series-${i}`;
      const before = { id, state: "queued", dead_letter: 0, accepted_at: this.soak.clock - 3_000 } as NoteRow;
      return { before, after: { ...before, state: "sent", updated_at: this.soak.clock } as NoteRow };
    });
    const outcomes: NoteOutcome[] = moves.map(({ before }) => ({
      id: before.id,
      key: "series-key",
      record: { id: before.id, state: "sent", attempts: 1, updatedAt: at, providerId: "p" },
    }));
    for (let call = 0; call < SERIES_CALLS_PER_ROUND; call++) {
      this.ctx.storage.transactionSync(() => {
        beginSeries();
        for (const { before, after } of moves) countMove(before, after);
        countAnswers(outcomes);
        writeSeries(exec, this.soak.clock);
      });
      tally.calls++;
      tally.notes += moves.length;
    }
  }

  /** The `delivered` webhooks of the round's sent notes, each applied and then reported synced to KV. */
  private events(start: number, roundMs: number, tally: PhaseTally): void {
    const { spec } = this.soak;
    const due = this.soak.sent.filter(() => Math.random() < spec.webhookShare);
    for (const [i, id] of due.entries()) {
      this.soak.clock = start + 10_000 + (i * roundMs) / (due.length + 1);
      const outcome = this.applyEvent({ noteId: id, state: "delivered", eventId: `evt_${id}` });
      if (outcome.kind === "applied") this.synced([{ id, version: outcome.version }]);
      tally.calls++;
      tally.notes++;
    }
  }

  /**
   * The round's Cron runs, as repair.ts makes them: the records KV is behind on, then a prune, and
   * the prunes the ledger's alarm asks for after it (each a second later), counted as one run.
   */
  private async cron(start: number, tally: PhaseTally): Promise<void> {
    const { spec, alarm } = this.soak;
    tally.pruned = 0;
    for (let run = 0; run < spec.cronRunsPerRound; run++) {
      this.soak.clock = start + run * CRON_EVERY_MS;
      this.behind(REPAIR_BATCH, QUIET_MS);
      tally.pruned += await this.prune();
      // Bounded: each alarm prunes a full batch of a finite table before it asks for another.
      while (alarm.at !== null) {
        this.soak.clock = Math.max(this.soak.clock, alarm.at);
        alarm.at = null;
        tally.pruned += await this.prune();
      }
      tally.calls++;
    }
  }
}

function outcomeOf(note: SoakNote, key: string, at: string): NoteOutcome {
  const base = { id: note.id, attempts: note.attempts, updatedAt: at };
  if (note.fate === "sent") {
    return { id: note.id, key, record: { ...base, state: "sent", providerId: crypto.randomUUID() } };
  }
  if (note.fate === "transient") {
    const record: StatusRecord = {
      ...base,
      state: "retrying",
      error: "The mail provider is unavailable (HTTP 503).",
      errorCode: "provider_unavailable",
      nextAttemptAt: at,
    };
    return { id: note.id, key, record };
  }
  const message = "The recipient is on the provider's suppression list.";
  return {
    id: note.id,
    key,
    record: { ...base, state: "failed", error: message, errorCode: "inactive_recipient" },
    deadLetter: { reason: "inactive_recipient", message, possiblySent: false },
  };
}
