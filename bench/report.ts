/**
 * Turns a run's results into what people read: the tables (the same rows on stdout and in
 * docs/BENCHMARKS.md) and the verdict on each of issues 6's, 12's and 21's targets. The charts are
 * bench/chart.ts's and bench/deliver-report.ts's.
 */

import type { BundleSize } from "./bundle.ts";
import type { CapacityResults } from "./capacity.ts";
import { capacityOpsTable, capacityPlanTable, judgeCapacityTarget } from "./capacity-report.ts";
import type { DeliverResults } from "./deliver-cpu.ts";
import { deliverHttpTable, deliverQueueTable, judgeDeliverTargets } from "./deliver-report.ts";
import { judgeLedgerTargets, ledgerCallsTable, ledgerDaysTable } from "./ledger-report.ts";
import type { LedgerSoakResults } from "./ledger-soak.ts";
import type { MicroRow } from "./micro.ts";
import type { PipelineResult } from "./pipeline.ts";
import type { PollResults } from "./poll-cpu.ts";
import type { ProfileRun } from "./profile.ts";
import { median } from "./stats.ts";
import { CPU_CONFIG_DESCRIPTIONS, CPU_CONFIGS, type CpuConfig } from "./targets.ts";
import { type CpuCell, type CpuResults, type CpuRun, cpuCell, cpuSizes } from "./workerd-cpu.ts";

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  workerd: string;
  wrangler: string;
  miniflare: string;
  /** Resolution of utime + stime. */
  clockTicksPerSecond: number;
  /** Whether CPU time came from the threads' nanosecond schedstat counters (else utime + stime ticks). */
  preciseCpu?: boolean;
}

export interface TargetVerdict {
  target: string;
  measured: string;
  verdict: "met" | "missed" | "not measured";
  note: string;
}

export interface BenchResults {
  date: string;
  durationSeconds: number;
  /** The seed every note's bytes come from. */
  seed: number;
  machine: Machine;
  micro: MicroRow[] | null;
  cpu: CpuResults | null;
  /** CPU per status poll (bench/poll-cpu.ts); absent in runs from before the part existed. */
  polls?: PollResults | null;
  profiles: ProfileRun[];
  pipeline: PipelineResult | null;
  bundles: Omit<BundleSize, "outdir">[] | null;
  /** deliver's CPU per queue invocation and per ops/webhook request (bench/deliver-cpu.ts). */
  deliver: DeliverResults | null;
  /** Billable operations per note and notes a day per plan (bench/capacity.ts). */
  capacity: CapacityResults | null;
  /** The delivery ledger's soak (bench/ledger-soak.ts), dated on its own: it may be merged into a run. */
  ledger?: LedgerSoakResults | null;
  targets: TargetVerdict[];
}

type Row = string[];
export interface Table {
  title: string;
  headers: Row;
  rows: Row[];
  /** Printed under the table. */
  notes?: string[];
}

const ms = (value: number, digits = 3) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "n/a");
const ns = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en-US") : "n/a");
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function microTable(rows: MicroRow[]): Table {
  return {
    title: "1. Hot path in process (V8 in Node, mitata, median ns per note)",
    headers: ["note", "ingest path", "own code", "WebCrypto verify", "naive path", "naive / ingest"],
    rows: rows.map((r) => [
      r.size,
      ns(r.ingestNs),
      ns(r.ownCodeNs),
      ns(r.verifyNs),
      ns(r.naiveNs),
      ratio(r.naiveOverIngest),
    ]),
    notes: [
      "ingest path = parseTokenSecrets + readClientToken + decodeFrame (recipient rule included) + await verifyClientToken.",
      "own code = the same path without the awaited HMAC; WebCrypto verify = a bare awaited crypto.subtle.verify of that HMAC.",
      "naive path = UTF-8 decode + JSON.parse of {to, nonce, ciphertext} (base64) + JSON.stringify of the Resend body.",
    ],
  };
}

export function cpuTable(cpu: CpuResults): Table {
  const rows: Row[] = [];
  const failures: string[] = [];
  const usable = (c: CpuCell | undefined) => (c !== undefined && c.failure === undefined ? c : undefined);
  for (const size of cpuSizes(cpu)) {
    const bare = usable(cpuCell(cpu, "bare", size));
    const naive = usable(cpuCell(cpu, "naive", size));
    for (const config of CPU_CONFIGS) {
      const c = cpuCell(cpu, config, size);
      if (c === undefined) continue;
      if (c.failure !== undefined) {
        rows.push([size, config, "failed", "", "", "", "", "", ""]);
        failures.push(`${config} at ${size} failed: ${c.failure}`);
        continue;
      }
      const againstBare = bare !== undefined && config !== "bare";
      rows.push([
        size,
        config,
        ms(c.cpuMsPerRequest),
        `${ms(Math.min(...c.runs.map((r) => r.cpuMsPerRequest)))}–${ms(Math.max(...c.runs.map((r) => r.cpuMsPerRequest)))}`,
        againstBare ? ms(c.cpuMsPerRequest - bare.cpuMsPerRequest) : "",
        againstBare ? ratio(c.overBare ?? c.cpuMsPerRequest / bare.cpuMsPerRequest) : "",
        naive !== undefined && config.startsWith("ingest") ? ratio(naive.cpuMsPerRequest / c.cpuMsPerRequest) : "",
        `${ms(c.p50Ms, 2)} / ${ms(c.p99Ms, 2)}`,
        Math.round(c.requestsPerSecond).toString(),
      ]);
    }
  }
  const { requests, warmupRequests, concurrency, runs } = cpu.load;
  return {
    title: "2. CPU per request inside workerd (CPU time of the workerd process)",
    headers: [
      "note",
      "Worker",
      "CPU ms/req",
      "runs min–max",
      "− bare",
      "÷ bare",
      "naive ÷ this",
      "wall p50 / p99 ms",
      "req/s",
    ],
    rows,
    notes: [
      `${requests} requests per run at concurrency ${concurrency} from a separate process, ${warmupRequests} warm-up requests, median of ${runs} runs.`,
      "÷ bare = the median of each run's ratio to the bare run of the same round (paired: drift between rounds cancels); − bare = the difference of the medians.",
      ...CPU_CONFIGS.map((config) => `${config}: ${CPU_CONFIG_DESCRIPTIONS[config]}.`),
      ...failures,
    ],
  };
}

export function pollTable(polls: PollResults): Table {
  const { requests, warmupRequests, concurrency, runs } = polls.load;
  return {
    title: "2b. CPU per status poll inside workerd (POST /v1/notes/status, with the SDK's token)",
    headers: ["ids", "Worker", "CPU ms/poll", "runs min–max", "wall p50 / p99 ms"],
    rows: polls.cells.map((c) => [
      c.ids.toString(),
      c.config,
      ms(c.cpuMsPerPoll),
      `${ms(Math.min(...c.runsCpuMsPerPoll))}–${ms(Math.max(...c.runsCpuMsPerPoll))}`,
      `${ms(c.p50Ms, 2)} / ${ms(c.p99Ms, 2)}`,
    ]),
    notes: [
      `${requests} polls per run at concurrency ${concurrency}, ${warmupRequests} warm-up polls, median of ${runs} runs; no id has a record (every KV read misses).`,
      "ingest: STATUS_LIMITER and STATUS_ADDRESS_LIMITER are Miniflare's stand-in of the binding, which runs in the same workerd; ingest-stubbed: both are in-isolate no-ops.",
    ],
  };
}

export function pipelineTable(pipeline: PipelineResult): Table {
  const o = pipeline.options;
  return {
    title: "3. Pipeline through the local stack (provider limited to 2 requests/s)",
    headers: [
      "notes",
      "sent",
      "notes/s sustained",
      "upstream requests",
      "per note",
      "e2e p50 / p99 ms",
      "POST phase s",
    ],
    rows: [
      [
        String(o.notes),
        String(pipeline.sent),
        ms(pipeline.notesPerSecond, 1),
        Number.isFinite(pipeline.upstreamRequests) ? String(pipeline.upstreamRequests) : "n/a",
        ms(pipeline.upstreamRequestsPerNote, 4),
        `${ms(pipeline.latencyP50Ms, 0)} / ${ms(pipeline.latencyP99Ms, 0)}`,
        ms(pipeline.postSeconds, 1),
      ],
    ],
    notes: [
      `${pipeline.noteBytes}-byte notes posted at concurrency ${o.concurrency}; statuses polled every ${o.pollIntervalMs} ms in bulk (100 ids per request); latency = POST start to the sent record's updatedAt.`,
      `Ingest accepted the notes at ${ms(o.notes / pipeline.postSeconds, 1)} notes/s (the POST phase): locally, wrangler dev on this machine's cores; the provider's limit allows 200 notes/s in 100-email batches.`,
      ...(pipeline.providerStats.after === null
        ? []
        : [
            `Provider: limit ${pipeline.providerStats.after.rateLimitPerSecond} requests/s; answers by status ${JSON.stringify(pipeline.providerStats.after.byStatus)}; ${pipeline.providerStats.after.emails} emails in its inbox.`,
          ]),
      ...(pipeline.failure === undefined ? [] : [`Incomplete: ${pipeline.failure}`]),
      ...Object.entries(pipeline.notSent).map(([state, count]) => `${count} notes ended ${state}.`),
    ],
  };
}

export function bundleTable(bundles: Omit<BundleSize, "outdir">[]): Table {
  return {
    title: "4. Bundles (wrangler deploy --dry-run)",
    headers: ["Worker", "modules", "raw", "gzip -9", "wrangler reports"],
    rows: bundles.map((b) => [b.worker, b.modules.join(", "), kib(b.rawBytes), kib(b.gzipBytes), b.wranglerReports]),
  };
}

export function profileTables(profiles: ProfileRun[]): Table[] {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`;
  return profiles.flatMap((p) => [
    {
      title: `Profile of the ${p.config} Worker's isolate at ${p.size} (${p.requests} requests): JavaScript by package`,
      headers: ["package or source", "samples", "share"],
      rows: p.byModule.map((e) => [e.name, String(e.samples), pct(e.share)]),
      notes: [
        `${p.jsSamples} samples in JavaScript (native API calls and GC included); ${p.programSamples} more in "(program)", the thread outside JavaScript (workerd's C++ and, as workerd does not mark idle time, its waits), left out of the shares.`,
        `workerd process CPU during the profiled run: ${ms(p.processCpuMsPerRequest)} ms/req (the profiler costs its own).`,
      ],
    },
    {
      title: `Profile of the ${p.config} Worker's isolate at ${p.size}: busiest source lines`,
      headers: ["where", "samples", "share", "code"],
      rows: p.topLines.map((l) => [l.name, String(l.samples), pct(l.share), l.code.slice(0, 90)]),
    },
    {
      title: `Profile of the ${p.config} Worker's isolate at ${p.size}: busiest functions`,
      headers: ["function", "samples", "share"],
      rows: p.topFunctions.map((f) => [f.name, String(f.samples), pct(f.share)]),
    },
  ]);
}

export function targetsTable(targets: TargetVerdict[]): Table {
  return {
    title: "Targets (issues 6, 12 and 21)",
    headers: ["target", "measured", "verdict", "note"],
    rows: targets.map((t) => [t.target, t.measured, t.verdict, t.note]),
  };
}

/** Issue 6: ingest ≤ 1.10 × the bare Worker's CPU per request. */
export const INGEST_TO_BARE = 1.1;

/** "16 KB: 1.02×" per size: the median of `config`'s runs over `base`'s run of the same round. */
function pairedRatios(cpu: CpuResults, config: CpuConfig, base: CpuConfig): string[] {
  const parts: string[] = [];
  for (const size of cpuSizes(cpu)) {
    const a = cpuCell(cpu, config, size);
    const b = cpuCell(cpu, base, size);
    if (!a || !b || a.failure || b.failure || a.runs.length !== b.runs.length || a.runs.length === 0) continue;
    const ratios = a.runs.map((run, i) => run.cpuMsPerRequest / (b.runs[i] as CpuRun).cpuMsPerRequest);
    parts.push(`${size}: ${ratio(median(ratios))}`);
  }
  return parts;
}

/** Issues 6's, 12's and 21's targets against this run. */
export function judgeTargets(results: Omit<BenchResults, "targets">): TargetVerdict[] {
  const verdicts: TargetVerdict[] = [];
  const micro = (size: string) => results.micro?.find((r) => r.size === size);
  for (const [size, limitMs] of [
    ["1.6 KB", 0.02],
    ["64 KB", 0.1],
  ] as const) {
    const row = micro(size);
    const target = `ingest's own code ≤ ${limitMs} ms per ${size} note (micro)`;
    if (row === undefined) {
      verdicts.push({ target, measured: "", verdict: "not measured", note: "" });
      continue;
    }
    const own = row.ownCodeNs / 1e6;
    const whole = row.ingestNs / 1e6;
    verdicts.push({
      target,
      measured: `${ms(own, 4)} ms own code; ${ms(whole, 4)} ms with the awaited WebCrypto verify`,
      verdict: own <= limitMs ? "met" : "missed",
      note:
        whole <= limitMs
          ? "met with the verify included too"
          : `with Node's async WebCrypto verify (${ms(row.verifyNs / 1e6, 4)} ms of it) the whole path is ${ratio(whole / limitMs)} the target`,
    });
  }

  const cpu = results.cpu;
  for (const [config, target, context] of [
    [
      "ingest",
      "ingest ≤ 1.10 × bare CPU per request (workerd)",
      "as run, with Miniflare's simulated Queue and rate limiter",
    ],
    [
      "ingest-stubbed",
      "ingest ≤ 1.10 × bare, bindings stubbed (ingest's own code)",
      "no-op bindings: routing, frame, token, JSON answer",
    ],
  ] as const) {
    if (cpu === null) {
      verdicts.push({ target, measured: "", verdict: "not measured", note: "" });
      continue;
    }
    const parts: string[] = [];
    let worst = 0;
    let measuredAll = true;
    for (const size of cpuSizes(cpu)) {
      const bare = cpuCell(cpu, "bare", size);
      const ingest = cpuCell(cpu, config, size);
      if (!bare || !ingest || bare.failure || ingest.failure) {
        parts.push(`${size}: n/a${ingest?.failure ? " (failed)" : ""}`);
        measuredAll = false;
        continue;
      }
      const r = ingest.overBare ?? ingest.cpuMsPerRequest / bare.cpuMsPerRequest;
      worst = Math.max(worst, r);
      parts.push(`${size}: ${ratio(r)}`);
    }
    const missed = worst > INGEST_TO_BARE;
    // What of the miss is the contract's (one HMAC, a JSON answer) rather than notepipe's code.
    const overContract = config === "ingest-stubbed" ? pairedRatios(cpu, config, "contract") : [];
    verdicts.push({
      target,
      measured: parts.join("; "),
      verdict: missed ? "missed" : measuredAll ? "met" : "not measured",
      note: [
        context,
        missed ? `missed by ${ratio(worst / INGEST_TO_BARE)} at worst` : "",
        overContract.length > 0 ? `÷ the contract floor: ${overContract.join("; ")}` : "",
        measuredAll ? "" : "some sizes failed (see the CPU table)",
      ]
        .filter((part) => part !== "")
        .join("; "),
    });
  }

  const p = results.pipeline;
  const pipelineMeasured = p !== null && p.sent > 0;
  verdicts.push({
    target: "upstream requests per note ≤ 0.02 (1,000 notes)",
    measured: pipelineMeasured ? `${ms(p.upstreamRequestsPerNote, 4)} (${p.upstreamRequests} for ${p.sent})` : "",
    verdict: !pipelineMeasured ? "not measured" : p.upstreamRequestsPerNote <= 0.02 ? "met" : "missed",
    note: !pipelineMeasured
      ? (p?.failure ?? "")
      : p.upstreamRequestsPerNote <= 0.02
        ? ""
        : `missed by ${ratio(p.upstreamRequestsPerNote / 0.02)}`,
  });
  verdicts.push({
    target: "≥ 180 notes/s sustained against 2 requests/s",
    measured: pipelineMeasured ? `${ms(p.notesPerSecond, 1)} notes/s` : "",
    verdict: !pipelineMeasured ? "not measured" : p.notesPerSecond >= 180 ? "met" : "missed",
    note: !pipelineMeasured
      ? (p?.failure ?? "")
      : p.notesPerSecond >= 180
        ? ""
        : `missed by ${ms(180 - p.notesPerSecond, 1)} notes/s (${ratio(180 / p.notesPerSecond)})`,
  });
  verdicts.push(...judgeDeliverTargets(results.deliver));
  verdicts.push(judgeCapacityTarget(results.capacity));
  verdicts.push(...judgeLedgerTargets(results.ledger));
  return verdicts;
}

function visible(text: string): number {
  return [...text].length;
}

export function renderText(table: Table): string {
  const all = [table.headers, ...table.rows];
  const widths = table.headers.map((_, i) => Math.max(...all.map((row) => visible(row[i] ?? ""))));
  const line = (row: Row) =>
    row
      .map((value, i) => value + " ".repeat((widths[i] ?? 0) - visible(value)))
      .join("  ")
      .trimEnd();
  return [
    table.title,
    line(table.headers),
    line(widths.map((w) => "-".repeat(w))),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((note) => `  ${note}`),
  ].join("\n");
}

const escapeCell = (value: string) => value.replaceAll("|", "\\|");

export function renderMarkdown(table: Table): string {
  return [
    `### ${table.title}`,
    "",
    `| ${table.headers.map(escapeCell).join(" | ")} |`,
    `|${table.headers.map(() => "---").join("|")}|`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
    ...(table.notes === undefined ? [] : ["", ...table.notes.map((note) => `- ${note}`)]),
  ].join("\n");
}

export function tablesOf(results: BenchResults): Table[] {
  return [
    ...(results.micro ? [microTable(results.micro)] : []),
    ...(results.cpu ? [cpuTable(results.cpu)] : []),
    ...(results.polls ? [pollTable(results.polls)] : []),
    ...(results.pipeline ? [pipelineTable(results.pipeline)] : []),
    ...(results.bundles ? [bundleTable(results.bundles)] : []),
    ...(results.deliver ? [deliverQueueTable(results.deliver), deliverHttpTable(results.deliver)] : []),
    ...(results.capacity ? [capacityOpsTable(results.capacity), capacityPlanTable(results.capacity)] : []),
    ...(results.ledger ? [ledgerDaysTable(results.ledger), ledgerCallsTable(results.ledger)] : []),
    targetsTable(results.targets),
    ...profileTables(results.profiles),
  ];
}

export function machineLines(results: BenchResults): string[] {
  const m = results.machine;
  return [
    `- Date: ${results.date} (run took ${Math.round(results.durationSeconds)} s, seed ${results.seed})`,
    `- CPU: ${m.cpuModel}, ${m.cores} cores; ${m.memoryGiB} GiB RAM; ${m.os}`,
    `- Node ${m.node}, workerd ${m.workerd}, wrangler ${m.wrangler}, miniflare ${m.miniflare}`,
    m.preciseCpu
      ? `- CPU time: the workerd threads' schedstat counters (ns), checked against utime + stime (${(1000 / m.clockTicksPerSecond).toFixed(0)} ms ticks, CLK_TCK ${m.clockTicksPerSecond})`
      : `- utime + stime resolution: ${(1000 / m.clockTicksPerSecond).toFixed(0)} ms (CLK_TCK ${m.clockTicksPerSecond})`,
  ];
}

export const DOC_BEGIN = "<!-- bench:results:begin (generated by pnpm bench; edits here are overwritten) -->";
export const DOC_END = "<!-- bench:results:end -->";

/** Replaces the generated part of docs/BENCHMARKS.md, between its markers, with this run. */
export function refreshDoc(doc: string, results: BenchResults, charts: { cpu: string; deliver: string }): string {
  const begin = doc.indexOf(DOC_BEGIN);
  const end = doc.indexOf(DOC_END);
  if (begin === -1 || end === -1 || end < begin) {
    throw new Error(`docs/BENCHMARKS.md lacks the markers ${DOC_BEGIN} … ${DOC_END}.`);
  }
  const generated = [
    DOC_BEGIN,
    "",
    "## Latest run",
    "",
    ...machineLines(results),
    "",
    ...(results.cpu ? [`![CPU per request by note size](${charts.cpu})`, ""] : []),
    ...(results.deliver ? [`![deliver's own CPU per queue invocation and per request](${charts.deliver})`, ""] : []),
    ...tablesOf(results).flatMap((table) => [renderMarkdown(table), ""]),
    DOC_END,
  ].join("\n");
  return doc.slice(0, begin) + generated + doc.slice(end + DOC_END.length);
}
