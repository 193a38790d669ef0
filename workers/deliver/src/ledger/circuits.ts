/**
 * A circuit per mail provider, kept in the ledger so that every invocation sees the same one: the
 * claim picks the provider a batch's new request goes to ({@link Router}), and the settle moves
 * the circuits by what the providers answered ({@link settleCircuits}). No call of its own: a
 * batch costs the claim and the settle it always did, and they read the `circuits` table's rows
 * (one per listed provider, at most one per provider deliver knows: 2 today) besides.
 *
 * closed ──pipeline-level failure, or `failures` transient ones in a row within `windowMs`──▶ open
 * open ──`probe_at` passed: one claim's requests go to it (the probe)──▶ half_open
 * half_open ──the probe answered──▶ closed; ──it failed──▶ open, the next probe twice as far off
 * Any answer from the provider (an email taken or refused) closes it from any state.
 *
 * The circuit steers new requests only. A request that may have reached a provider goes out again
 * to that provider alone, as the identical request (requests.ts, `planHeld`): it waits while that
 * provider's circuit is open, and becomes its probe once the backoff is over.
 */

import type { DeliveryErrorCode } from "@notepipe/pipeline";
import type { CircuitSettings } from "../config.ts";
import { classOf } from "../queue/outcomes.ts";
import type { Exec } from "./schema.ts";
import type { CircuitStat, Failover, NoteOutcome, ProviderChoice } from "./types.ts";

export type CircuitState = "closed" | "open" | "half_open";

export interface CircuitRow extends Record<string, SqlStorageValue> {
  provider: string;
  state: CircuitState;
  /** Transient failures in a row while closed. */
  failures: number;
  /** ms: the first of them. */
  first_failure_at: number | null;
  /** The failure code that opened it, while not closed. */
  reason: string | null;
  /** ms: when it opened, while not closed. */
  opened_at: number | null;
  /** ms: open, when it may be probed; half_open, when the probe's lease ends. */
  probe_at: number;
  /** Probes that failed in a row: the backoff's exponent. */
  probes: number;
  /** 1 for the provider new requests went to last. */
  routed: number;
  /** How often new requests switched to this provider. */
  switches: number;
  changed_at: number;
}

/** Transient failures that say the provider is unwell; a 429 or a concurrent key says nothing about it. */
const OUTAGE_CODES: ReadonlySet<DeliveryErrorCode> = new Set(["timeout", "network_error", "provider_unavailable"]);

function circuitsOf(exec: Exec): Map<string, CircuitRow> {
  return new Map(exec<CircuitRow>("SELECT * FROM circuits").rows.map((row) => [row.provider, row]));
}

function closedRow(provider: string, now: number): CircuitRow {
  return {
    provider,
    state: "closed",
    failures: 0,
    first_failure_at: null,
    reason: null,
    opened_at: null,
    probe_at: 0,
    probes: 0,
    routed: 0,
    switches: 0,
    changed_at: now,
  };
}

function writeCircuit(exec: Exec, row: CircuitRow): void {
  exec(
    `INSERT OR REPLACE INTO circuits (provider, state, failures, first_failure_at, reason, opened_at, probe_at, probes,
       routed, switches, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    row.provider,
    row.state,
    row.failures,
    row.first_failure_at,
    row.reason,
    row.opened_at,
    row.probe_at,
    row.probes,
    row.routed,
    row.switches,
    row.changed_at,
  );
}

/** What a held request's provider lets it do in this claim. */
export type Admission = { kind: "send" } | { kind: "wait"; seconds: number };

/**
 * One claim's view of the circuits: read once, changed in memory, written back by {@link finish}
 * with the lease the claim's requests got, so a probe is held exactly as long as its request.
 */
export class Router {
  private readonly exec: Exec;
  private readonly failover: Failover;
  private readonly now: number;
  private readonly rows: Map<string, CircuitRow>;
  private readonly changed = new Set<string>();
  private readonly probing = new Set<string>();

  constructor(exec: Exec, failover: Failover, now: number) {
    this.exec = exec;
    this.failover = failover;
    this.now = now;
    this.rows = circuitsOf(exec);
  }

  /** The first listed provider's name: where a request made before failover goes. */
  first(): string {
    return (this.failover.providers[0] as ProviderChoice).name;
  }

  choiceOf(provider: string | null): ProviderChoice | undefined {
    return this.failover.providers.find((choice) => choice.name === provider);
  }

  /**
   * A request that may have reached `provider` goes out again to it alone: now if its circuit is
   * closed or due a probe (this request is then the probe), else once the backoff is over.
   */
  admit(provider: string): Admission {
    const row = this.rowOf(provider);
    if (this.usable(row)) return { kind: "send" };
    // A probe out answers in seconds, well before its lease (timeout + 20 s) ends: look again
    // after one probe interval rather than spend a whole lease of the queue's retry delay.
    const until =
      row.state === "half_open" ? Math.min(row.probe_at, this.now + this.failover.circuit.probeMs) : row.probe_at;
    return { kind: "wait", seconds: Math.max(1, Math.ceil((until - this.now) / 1000) + 1) };
  }

  /**
   * Where this claim's new request goes: the first listed provider whose circuit is closed, or due
   * a probe that no held request of this claim makes. With every circuit open, the first listed,
   * as if it had none: notes have nowhere else to go.
   */
  choose(): ProviderChoice {
    const first = this.failover.providers[0] as ProviderChoice;
    // A provider a held request of this claim already probes is passed over: new notes that rode
    // along on a failing probe would be held there too, where they need not be.
    const choice =
      this.failover.providers.find((each) => !this.probing.has(each.name) && this.usable(this.rowOf(each.name))) ??
      first;
    const row = this.rowOf(choice.name);
    if (row.routed !== 1 && row.state === "closed") this.switchTo(row);
    return choice;
  }

  /** Writes what this claim changed; a probe taken is held until `leaseUntil`, one probe interval at most. */
  finish(leaseUntil: number): void {
    for (const provider of this.probing) {
      const row = this.rowOf(provider);
      // Held for the probe's lease, at most one probe interval: a probe whose invocation died must
      // not keep a provider half-open for a whole claim's lease (every request's, one after another).
      const until = Math.min(leaseUntil, this.now + this.failover.circuit.probeMs);
      this.rows.set(provider, { ...row, state: "half_open", probe_at: until, changed_at: this.now });
      this.changed.add(provider);
      console.log(`deliver: circuit ${provider} half-open: one batch probes it (${row.reason ?? "failures"})`);
    }
    for (const provider of this.changed) writeCircuit(this.exec, this.rowOf(provider));
  }

  private rowOf(provider: string): CircuitRow {
    return this.rows.get(provider) ?? closedRow(provider, this.now);
  }

  /** Closed, already probed by this claim, or due a probe, which this claim then takes. */
  private usable(row: CircuitRow): boolean {
    if (row.state === "closed" || this.probing.has(row.provider)) return true;
    if (row.probe_at > this.now) return false;
    this.probing.add(row.provider);
    return true;
  }

  private switchTo(row: CircuitRow): void {
    let from: CircuitRow | undefined;
    for (const [provider, other] of this.rows) {
      if (other.routed !== 1 || provider === row.provider) continue;
      from = other;
      this.rows.set(provider, { ...other, routed: 0 });
      this.changed.add(provider);
    }
    this.rows.set(row.provider, { ...row, routed: 1, switches: row.switches + (from === undefined ? 0 : 1) });
    this.changed.add(row.provider);
    if (from === undefined) return;
    // One line per switch, from the one claim that made it: no key, no address.
    const why =
      from.state === "closed"
        ? `${row.provider}'s circuit closed again`
        : `${from.provider}'s circuit is ${from.state.replace("_", "-")} (${from.reason ?? "failures"})`;
    console.log(`deliver: provider switch ${from.provider} → ${row.provider}: ${why}`);
  }
}

/** What one request's answer says about its provider, or null if nothing. */
function verdictOf(outcomes: readonly NoteOutcome[]): "answered" | DeliveryErrorCode | null {
  let verdict: DeliveryErrorCode | null = null;
  for (const { record } of outcomes) {
    if (record.state === "sent" || (record.state === "failed" && record.errorCode !== "possibly_sent")) {
      return "answered";
    }
    const code = record.errorCode;
    if (code === undefined) continue;
    if (classOf(code) === "pipeline") verdict = code;
    else if (verdict === null && OUTAGE_CODES.has(code)) verdict = code;
  }
  return verdict;
}

/**
 * Moves each provider's circuit by the answers of the requests sent to it, inside the settle's
 * transaction. `providerOf` names each request's provider (null: sent before failover, counted
 * nowhere).
 */
export function settleCircuits(
  exec: Exec,
  outcomes: readonly NoteOutcome[],
  providerOf: (key: string) => string | null,
  settings: CircuitSettings,
  now: number,
): void {
  const byKey = new Map<string, NoteOutcome[]>();
  for (const outcome of outcomes) {
    const sent = byKey.get(outcome.key);
    if (sent === undefined) byKey.set(outcome.key, [outcome]);
    else sent.push(outcome);
  }
  let rows: Map<string, CircuitRow> | undefined;
  for (const [key, sent] of byKey) {
    const provider = providerOf(key);
    if (provider === null) continue;
    const verdict = verdictOf(sent);
    rows ??= circuitsOf(exec);
    const row = rows.get(provider) ?? closedRow(provider, now);
    const next =
      verdict !== null
        ? moveCircuit(row, verdict, settings, now)
        : row.state === "half_open"
          ? // A probe that said nothing either way (a 429): the next claim may probe again at once,
            // rather than every note bound for the provider waiting out the probe's whole lease.
            { ...row, state: "open" as const, probe_at: now, changed_at: now }
          : row;
    if (next === row) continue;
    rows.set(provider, next);
    writeCircuit(exec, next);
    if (next.state !== row.state) {
      const until = next.state === "open" ? ` until ${new Date(next.probe_at).toISOString()}` : "";
      console.log(
        `deliver: circuit ${provider} ${next.state.replace("_", "-")} (${next.reason ?? verdict ?? "no answer"})${until}`,
      );
    }
  }
}

function moveCircuit(
  row: CircuitRow,
  verdict: "answered" | DeliveryErrorCode,
  settings: CircuitSettings,
  now: number,
): CircuitRow {
  if (verdict === "answered") {
    if (row.state === "closed" && row.failures === 0) return row;
    return { ...row, state: "closed", failures: 0, first_failure_at: null, reason: null, probes: 0, changed_at: now };
  }
  const pipeline = classOf(verdict) === "pipeline";
  if (row.state === "half_open") {
    // The probe failed: wait twice as long for the next.
    const probes = row.probes + 1;
    const backoff = Math.min(settings.probeMs * 2 ** probes, settings.maxProbeMs);
    return { ...row, state: "open", reason: verdict, probes, probe_at: now + backoff, changed_at: now };
  }
  if (row.state === "open") return row;
  const inWindow = row.first_failure_at !== null && now - row.first_failure_at <= settings.windowMs;
  const failures = inWindow ? row.failures + 1 : 1;
  const first_failure_at = inWindow ? row.first_failure_at : now;
  if (!pipeline && failures < settings.failures) return { ...row, failures, first_failure_at, changed_at: now };
  return {
    ...row,
    state: "open",
    failures,
    first_failure_at,
    reason: verdict,
    opened_at: now,
    probes: 0,
    probe_at: now + settings.probeMs,
    changed_at: now,
  };
}

/** The circuits as `GET /ops/stats` shows them, in the order of the rows' names. */
export function circuitStats(exec: Exec): CircuitStat[] {
  return [...circuitsOf(exec).values()]
    .sort((a, b) => a.provider.localeCompare(b.provider))
    .map((row) => {
      const stat: CircuitStat = {
        provider: row.provider,
        state: row.state,
        routed: row.routed === 1,
        switches: row.switches,
      };
      if (row.reason !== null) stat.reason = row.reason;
      if (row.opened_at !== null && row.state !== "closed") stat.openedAt = new Date(row.opened_at).toISOString();
      if (row.state !== "closed") stat.probeAt = new Date(row.probe_at).toISOString();
      return stat;
    });
}

/** Version 6 of the ledger's tables (schema.ts): the circuits, and each request's provider. */
export const CIRCUITS_TABLE = `
CREATE TABLE circuits (
  provider TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  failures INTEGER NOT NULL DEFAULT 0,
  first_failure_at INTEGER,
  reason TEXT,
  opened_at INTEGER,
  probe_at INTEGER NOT NULL DEFAULT 0,
  probes INTEGER NOT NULL DEFAULT 0,
  routed INTEGER NOT NULL DEFAULT 0,
  switches INTEGER NOT NULL DEFAULT 0,
  changed_at INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE requests ADD COLUMN provider TEXT;
`;
