/**
 * The ledger soak's tables (bench/ledger-soak.ts): what the object holds each simulated day, and
 * what each call costs while the table is small against once it is as large as it gets.
 */

import {
  type LedgerSoakResults,
  medianOver,
  type PhaseDay,
  rowsPerNote,
  type SoakDay,
  usPerCall,
} from "./ledger-soak.ts";
import type { Table, TargetVerdict } from "./report.ts";

const count = (value: number) => Math.round(value).toLocaleString("en-US");
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
const us = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : "n/a");

type CallKind = "claims" | "settles" | "events" | "cron" | "overview" | "series";
const CALLS: Record<CallKind, string> = {
  claims: "claim (a batch)",
  settles: "settle (a batch)",
  events: "webhook event (applyEvent + synced)",
  cron: "Cron run (behind + prune)",
  overview: "ops overview (a page)",
  series: "the series' share of a settle of 100",
};

/** Days 2–6, the table still small (day 1 warms the isolate), against the last ten. */
function windows(results: LedgerSoakResults): { early: [number, number]; steady: [number, number] } {
  const last = results.days.length;
  return { early: [2, Math.min(6, last)], steady: [Math.max(1, last - 9), last] };
}

/** NaN ("n/a") for a call the run did not make, or did not measure yet (results from before it existed). */
function perCall(phase: PhaseDay | undefined, pick: (phase: PhaseDay) => number): number {
  return phase === undefined || phase.calls === 0 ? Number.NaN : pick(phase) / phase.calls;
}

export function ledgerDaysTable(results: LedgerSoakResults): Table {
  const { load, composition } = results;
  const real = Math.round(load.notesPerDay / load.scale);
  return {
    title: `9. Delivery ledger soak: ${load.days} simulated days at ${count(load.notesPerDay)} notes a day (run at 1/${load.scale})`,
    headers: [
      "day",
      "notes rows",
      `× ${load.scale}`,
      "MiB held",
      `× ${load.scale} (GiB)`,
      "dead letters",
      "pruned",
      "claim µs",
      "settle µs",
      "event µs",
      "Cron run µs",
      "rows read / note",
      "rows written / note",
    ],
    rows: results.days.map((day) => {
      const rows = rowsPerNote(day);
      return [
        String(day.day),
        count(day.census.notes),
        `${((day.census.notes * load.scale) / 1e6).toFixed(2)}M`,
        mib(day.census.databaseBytes),
        gib(day.census.databaseBytes * load.scale),
        count(day.census.deadLetters),
        count(day.pruned),
        us(usPerCall(day.phases.claims)),
        us(usPerCall(day.phases.settles)),
        us(usPerCall(day.phases.events)),
        us(usPerCall(day.phases.cron)),
        rows.read.toFixed(1),
        rows.written.toFixed(1),
      ];
    }),
    notes: [
      `Run ${results.date}, ${Math.round(results.durationSeconds)} s. Real: ${count(real)} notes a simulated day (${load.notesPerDay.toLocaleString("en-US")} / ${load.scale}) claimed and settled through deliver's own DeliveryLedger inside workerd, in batches of up to 100 over ${load.roundsPerDay} rounds, each round 2 s between claim and settle, then the round's webhooks, then its Cron runs every 5 simulated minutes (288 a day). Its clock is simulated (the ledger's now()).`,
      `Composition of a day's fresh notes: ${pct(composition.transientShare)} fail once transiently (503) and are sent a round later, ${pct(composition.permanentShare)} fail for good (a dead letter holding its ${composition.frameBytes}-byte frame), ${pct(composition.duplicateShare)} come back as a duplicate copy of a note already sent, and ${pct(composition.webhookShare)} of sent notes get a delivered webhook.`,
      `Extrapolated: the × ${load.scale} columns only. Rows each live a fixed time, so the rows held scale with the rate; the per-call µs and rows per note are measured as they are. MiB held = ctx.storage.sql.databaseSize, the size the object is billed for and capped at (10 GB).`,
      "µs = CPU of the workerd process across a phase (its threads' schedstat counters), less an empty phase request, divided by the phase's calls. Rows = the SQL cursors' rowsRead / rowsWritten of every query the calls made, per fresh note of the day.",
      ...(results.failure === undefined ? [] : [`The soak stopped: ${results.failure}`]),
    ],
  };
}

export function ledgerCallsTable(results: LedgerSoakResults): Table {
  const { early, steady } = windows(results);
  const rows = (Object.keys(CALLS) as CallKind[]).map((kind) => {
    const at = (range: [number, number], pick: (phase: PhaseDay) => number) =>
      medianOver(results.days, range[0], range[1], (day) => perCall(day.phases[kind], pick));
    const cpuEarly = at(early, (p) => 1000 * p.cpuMs);
    const cpuSteady = at(steady, (p) => 1000 * p.cpuMs);
    return [
      CALLS[kind],
      us(cpuEarly),
      us(cpuSteady),
      Number.isFinite(cpuSteady / cpuEarly) ? `${(cpuSteady / cpuEarly).toFixed(2)}×` : "n/a",
      us(at(steady, (p) => 1000 * p.wallMs)),
      `${at(early, (p) => p.rowsRead).toFixed(1)} → ${at(steady, (p) => p.rowsRead).toFixed(1)}`,
      `${at(early, (p) => p.rowsWritten).toFixed(1)} → ${at(steady, (p) => p.rowsWritten).toFixed(1)}`,
    ];
  });
  const held = (range: [number, number]) => medianOver(results.days, range[0], range[1], (day) => day.census.notes);
  const pruned = medianOver(results.days, steady[0], steady[1], (day) => day.pruned / day.phases.cron.calls);
  return {
    title: "10. Delivery ledger soak: each call while the table is small, and once it is full",
    headers: [
      "call",
      `CPU µs, days ${early[0]}–${early[1]}`,
      `CPU µs, days ${steady[0]}–${steady[1]}`,
      "full ÷ small",
      "wall µs (full)",
      "rows read / call",
      "rows written / call",
    ],
    rows,
    notes: [
      `Medians over the days named; rows read and written: days ${early[0]}–${early[1]} → days ${steady[0]}–${steady[1]}. The table held ${count(held(early))} rows (median) in days ${early[0]}–${early[1]} and ${count(held(steady))} in days ${steady[0]}–${steady[1]} (× ${results.load.scale} at the full rate).`,
      `A Cron run prunes nothing until the first rows expire; in days ${steady[0]}–${steady[1]} each pruned ${pruned.toFixed(1)} rows (× ${results.load.scale} at the full rate, in batches on the alarm), so its figures there are per run, its rows read the pruned rows' and a constant.`,
      "CPU figures carry the machine's load (other work shares its 2 cores); the rows read and written are the storage API's exact counts.",
    ],
  };
}

const pct = (share: number) => `${(100 * share).toFixed(share < 0.01 ? 1 : 0)} %`;

/** Growth of a census figure over the last ten days, as a share of where it started. */
function growth(days: SoakDay[], pick: (day: SoakDay) => number): number {
  const last = days.at(-1);
  const first = days.at(-10);
  if (last === undefined || first === undefined || pick(first) === 0) return Number.NaN;
  return pick(last) / pick(first) - 1;
}

/** Issue 21: flat after the retention window, and no call's work growing with the table. */
export function judgeLedgerTargets(results: LedgerSoakResults | null | undefined): TargetVerdict[] {
  const flat = "ledger: rows and bytes flat after the retention window, at 1M notes a day";
  const constant = "ledger: no call reads or writes more rows as the table grows";
  const cpu = "ledger: claim, settle and webhook CPU independent of the table's size";
  if (results == null || results.days.length < 20) {
    return [flat, constant, cpu].map((target) => ({
      target,
      measured: "",
      verdict: "not measured",
      note: results?.failure ?? "",
    }));
  }
  const rows = growth(results.days, (day) => day.census.notes);
  const bytes = growth(results.days, (day) => day.census.databaseBytes);
  const last = results.days.at(-1) as SoakDay;
  const { early, steady } = windows(results);
  const ratio = (kind: CallKind, pick: (phase: PhaseDay) => number) =>
    medianOver(results.days, steady[0], steady[1], (day) => perCall(day.phases[kind], pick)) /
    medianOver(results.days, early[0], early[1], (day) => perCall(day.phases[kind], pick));
  const batchCalls: CallKind[] = ["claims", "settles", "events"];
  const rowRatios = batchCalls.map((kind) => ({
    kind,
    read: ratio(kind, (p) => p.rowsRead),
    written: ratio(kind, (p) => p.rowsWritten),
  }));
  // What a Cron run reads beyond what it read with nothing due, per row it pruned.
  const cronRead = (range: [number, number]) =>
    medianOver(results.days, range[0], range[1], (day) => perCall(day.phases.cron, (p) => p.rowsRead));
  const prunedPerRun = medianOver(results.days, steady[0], steady[1], (day) => day.pruned / day.phases.cron.calls);
  const readPerPruned = (cronRead(steady) - cronRead(early)) / prunedPerRun;
  const cpuRatios = batchCalls.map((kind) => ({ kind, ratio: ratio(kind, (p) => p.cpuMs) }));
  const signed = (share: number) => `${share >= 0 ? "+" : ""}${(100 * share).toFixed(1)} %`;
  const times = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "n/a");
  return [
    {
      target: flat,
      measured: `last 10 days: rows ${signed(rows)}, bytes ${signed(bytes)}; day ${last.day}: ${((last.census.notes * results.load.scale) / 1e6).toFixed(1)}M rows, ${gib(last.census.databaseBytes * results.load.scale)} GiB at full rate`,
      verdict: Math.abs(rows) <= 0.02 && Math.abs(bytes) <= 0.02 ? "met" : "missed",
      note: `run at 1/${results.load.scale}, rows and bytes × ${results.load.scale}`,
    },
    {
      target: constant,
      measured: [
        ...rowRatios.map((r) => `${CALLS[r.kind]}: read ${times(r.read)}, written ${times(r.written)}`),
        `Cron run: ${readPerPruned.toFixed(1)} rows read per row pruned beyond its reads with nothing due`,
      ].join("; "),
      verdict: rowRatios.every((r) => r.read <= 1.05 && r.written <= 1.05) && readPerPruned <= 8 ? "met" : "missed",
      note: `per call, days ${steady[0]}–${steady[1]} ÷ days ${early[0]}–${early[1]}, the table ${count(medianOver(results.days, steady[0], steady[1], (day) => day.census.notes) / medianOver(results.days, early[0], early[1], (day) => day.census.notes))}× larger`,
    },
    {
      target: cpu,
      measured: cpuRatios.map((r) => `${CALLS[r.kind]} ${times(r.ratio)}`).join("; "),
      // CPU readings of a shared 2-core machine wander by a tenth or more: 1.25 × is growth, not noise.
      verdict: cpuRatios.every((r) => r.ratio <= 1.25) ? "met" : "missed",
      note: `median CPU per call, days ${steady[0]}–${steady[1]} ÷ days ${early[0]}–${early[1]}`,
    },
  ];
}
