/**
 * The delivery ledger's soak: deliver's real `DeliveryLedger` class in a workerd of its own, its
 * clock simulated (bench/workers/ledger-soak/), through `days` simulated days at `notesPerDay`.
 *
 * Compressed, and how: each simulated day claims and settles `notesPerDay / scale` real notes in
 * batches of 100 through the ledger's own methods, spread over `roundsPerDay` rounds (each round:
 * its claims, their settles 2 s later, the round's `delivered` webhooks, and the round's Cron runs,
 * `behind` + `prune`, every 5 simulated minutes), with the composition of {@link LedgerSoakLoad}.
 * Rows and bytes held are measured at that rate and shown × `scale` for the full rate: a table
 * whose rows each live a fixed time holds `rate × lifetime` rows whatever the rate, so the row
 * count and the bytes scale linearly; what does not scale (a call's cost, rows read and written
 * per note) is measured as it is. A call whose cost grew with the table would show it here too:
 * the table grows from empty to its steady size, `1/scale` of the full rate's.
 *
 * CPU: the workerd process's threads (schedstat, bench/workerd-process.ts) across one phase,
 * divided by its calls; the phase's in-process driving is in it (a few µs a call).
 */

import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { bundleBenchWorker, deliverSettings } from "./deliver-targets.ts";
import { median } from "./stats.ts";
import { cpuMsBetween, readCpu, workerdPidServing } from "./workerd-process.ts";
import type { Census, Phase, PhaseTally, SoakSpec } from "./workers/ledger-soak/soak-ledger.ts";

export interface LedgerSoakLoad {
  days: number;
  /** The claimed rate: notes a day at full scale. */
  notesPerDay: number;
  /** The soak runs `notesPerDay / scale` real notes a day and shows rows and bytes × scale. */
  scale: number;
  roundsPerDay: number;
}

/** The composition of a day (of fresh notes), chosen as a plausible busy day with webhooks on. */
export const SOAK_COMPOSITION = {
  frameBytes: 1_600,
  transientShare: 0.02,
  permanentShare: 0.002,
  duplicateShare: 0.005,
  webhookShare: 1,
} as const;

const PHASES = ["claims", "settles", "events", "cron", "overview", "series"] as const satisfies Phase[];
/** Phases the bench adds to measure a call alone, not part of a note's life: left out of rows per note. */
const EXTRA_PHASES: ReadonlySet<string> = new Set(["overview", "series"]);
type MeasuredPhase = (typeof PHASES)[number];

/** One phase kind over one simulated day. */
export interface PhaseDay {
  calls: number;
  notes: number;
  cpuMs: number;
  wallMs: number;
  rowsRead: number;
  rowsWritten: number;
}

export interface SoakDay {
  day: number;
  census: Census;
  phases: Record<MeasuredPhase, PhaseDay>;
  /** CPU ms of one `idle` phase request, the median of the day's rounds: taken off each phase. */
  floorMs: number;
  pruned: number;
  /** Notes claimed for the first time this day (fresh, real). */
  freshNotes: number;
}

export interface LedgerSoakResults {
  date: string;
  durationSeconds: number;
  load: LedgerSoakLoad;
  composition: typeof SOAK_COMPOSITION;
  days: SoakDay[];
  failure?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function measureLedgerSoak(
  repoRoot: string,
  scratch: string,
  load: LedgerSoakLoad,
  progress: (message: string) => void,
): Promise<LedgerSoakResults> {
  const started = performance.now();
  const date = new Date().toISOString();
  const results: LedgerSoakResults = { date, durationSeconds: 0, load, composition: SOAK_COMPOSITION, days: [] };
  progress("ledger: bundling the soak's Worker around deliver's ledger");
  const scriptPath = join(scratch, "ledger-soak.js");
  await bundleBenchWorker(join(repoRoot, "bench/workers/ledger-soak/index.ts"), scriptPath);
  const { compatibilityDate, compatibilityFlags } = deliverSettings(repoRoot);
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      name: "ledger-soak",
      modules: true,
      scriptPath,
      modulesRoot: dirname(scriptPath),
      compatibilityDate,
      compatibilityFlags,
      durableObjects: { LEDGER: { className: "SoakLedger", useSQLite: true, unsafePreventEviction: true } },
      // On disk, as in production: SQLite's page cache and file, not memory.
      resourcePersistencePath: join(scratch, "state"),
      host: "127.0.0.1",
      port: 0,
      cf: false,
      log: new Log(LogLevel.WARN),
    }),
  );
  try {
    const url = (await miniflare.ready).href.replace(/\/$/, "");
    const pid = workerdPidServing(Number(new URL(url).port));
    const spec: SoakSpec = {
      ...SOAK_COMPOSITION,
      notesPerDay: Math.round(load.notesPerDay / load.scale),
      roundsPerDay: load.roundsPerDay,
      cronRunsPerRound: Math.round(DAY_MS / load.roundsPerDay / (5 * 60 * 1000)),
      // Midnight UTC of a fixed day, so that every run's days line up.
      startMs: Date.UTC(2026, 0, 1),
    };
    const ask = async <T>(path: string, init?: RequestInit): Promise<T> => {
      const response = await fetch(`${url}${path}`, init);
      const text = await response.text();
      if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text.slice(0, 300)}`);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    };
    await ask("/start", { method: "POST", body: JSON.stringify(spec) });
    for (let day = 0; day < load.days; day++) {
      const phases = Object.fromEntries(
        PHASES.map((phase) => [phase, { calls: 0, notes: 0, cpuMs: 0, wallMs: 0, rowsRead: 0, rowsWritten: 0 }]),
      ) as Record<MeasuredPhase, PhaseDay>;
      let pruned = 0;
      const floors: number[] = [];
      for (let round = 0; round < load.roundsPerDay; round++) {
        const run = async (phase: Phase) => {
          const before = readCpu(pid);
          const wallStart = performance.now();
          const tally = await ask<PhaseTally>(`/phase?phase=${phase}&day=${day}&round=${round}`, { method: "POST" });
          return { tally, wallMs: performance.now() - wallStart, cpuMs: cpuMsBetween(before, readCpu(pid)) };
        };
        const floor = await run("idle");
        floors.push(floor.cpuMs);
        for (const phase of PHASES) {
          const { tally, wallMs, cpuMs } = await run(phase);
          const into = phases[phase];
          into.cpuMs += cpuMs - floor.cpuMs;
          into.wallMs += wallMs - floor.wallMs;
          into.calls += tally.calls;
          into.notes += tally.notes;
          into.rowsRead += tally.rowsRead;
          into.rowsWritten += tally.rowsWritten;
          pruned += tally.pruned ?? 0;
        }
      }
      const census = await ask<Census>("/census");
      const soakDay: SoakDay = {
        day: day + 1,
        census,
        phases,
        floorMs: median(floors),
        pruned,
        freshNotes: spec.notesPerDay,
      };
      results.days.push(soakDay);
      progress(`ledger: ${dayLine(soakDay, load.scale)}`);
    }
  } catch (error) {
    results.failure = error instanceof Error ? error.message : String(error);
    progress(`ledger: the soak failed: ${results.failure}`);
  } finally {
    await miniflare.dispose();
  }
  results.durationSeconds = (performance.now() - started) / 1000;
  return results;
}

/** µs of CPU per call of one phase kind over a day. */
export function usPerCall(phase: PhaseDay): number {
  return phase.calls === 0 ? Number.NaN : (1000 * phase.cpuMs) / phase.calls;
}

/** The day's whole rows read and written by every phase, per fresh note. */
export function rowsPerNote(day: SoakDay): { read: number; written: number } {
  const all = Object.entries(day.phases)
    .filter(([name]) => !EXTRA_PHASES.has(name))
    .map(([, phase]) => phase);
  const sum = (pick: (phase: PhaseDay) => number) => all.reduce((total, phase) => total + pick(phase), 0);
  return { read: sum((p) => p.rowsRead) / day.freshNotes, written: sum((p) => p.rowsWritten) / day.freshNotes };
}

export function dayLine(day: SoakDay, scale: number): string {
  const { census, phases } = day;
  const rows = rowsPerNote(day);
  return [
    `day ${String(day.day).padStart(2)}`,
    `${census.notes.toLocaleString("en-US")} notes rows (× ${scale}: ${((census.notes * scale) / 1e6).toFixed(1)}M)`,
    `${(census.databaseBytes / 2 ** 20).toFixed(0)} MiB (× ${scale}: ${((census.databaseBytes * scale) / 2 ** 30).toFixed(2)} GiB)`,
    `claim ${usPerCall(phases.claims).toFixed(0)} µs`,
    `settle ${usPerCall(phases.settles).toFixed(0)} µs`,
    `event ${usPerCall(phases.events).toFixed(0)} µs`,
    `cron ${usPerCall(phases.cron).toFixed(0)} µs`,
    `pruned ${day.pruned.toLocaleString("en-US")}`,
    `rows/note r ${rows.read.toFixed(1)} w ${rows.written.toFixed(1)}`,
  ].join(", ");
}

/** The median of a per-day figure over days [from, to] (1-based, inclusive). */
export function medianOver(days: SoakDay[], from: number, to: number, figure: (day: SoakDay) => number): number {
  return median(days.filter((day) => day.day >= from && day.day <= to).map(figure));
}
