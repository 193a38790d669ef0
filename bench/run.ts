/**
 * `pnpm bench`: what notepipe costs against what a user would otherwise write, in one run.
 *
 *   1. micro     the hot path in process (mitata), beside the naive JSON path
 *   2. cpu       CPU per request inside workerd: bare / bindings floor / ingest / naive relay
 *      polls     CPU per status poll (1 id, 100 ids) inside workerd, rate limiters real and stubbed
 *      profile   CPU profiles of the ingest isolate, when ingest misses 1.10 × bare
 *   3. pipeline  1,000 notes through the local stack, provider at 2 requests/s
 *   4. bundle    both Workers' upload size from `wrangler deploy --dry-run`
 *   5. deliver   deliver's own CPU per queue invocation (1.6, 16, 64 KB × 10, 100 messages) and per
 *                ops replay and webhook request, inside workerd, beside the 5 ms goal
 *   6. capacity  billable operations per note on the local stack (busy, quiet, webhooks on) and
 *                the notes a day each plan allows
 *   7. ledger    the delivery ledger's soak: 40 simulated days at 1M notes a day, compressed, in
 *                workerd; rows and bytes held each day, each call's CPU as the table grows
 *
 * A full run prints the tables, writes bench/results/latest.json, docs/images/cpu-per-request.svg,
 * docs/images/deliver-cpu-per-invocation.svg and the generated part of docs/BENCHMARKS.md. `--quick`
 * or `--only` runs print the tables and write bench/results/latest.json.tmp only, so that a trial
 * never replaces the committed results, unless `--merge` asks for its parts to replace those of the
 * committed run in bench/results/latest.json and docs/BENCHMARKS.md, every other part kept as it was.
 * Method and caveats: docs/BENCHMARKS.md.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, release, tmpdir, totalmem, type } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { bundleWorker, bundleWorkers } from "./bundle.ts";
import { type CapacityLoad, measureCapacity } from "./capacity.ts";
import { cpuChartSvg } from "./chart.ts";
import { type DeliverLoad, type DeliverResults, measureDeliver } from "./deliver-cpu.ts";
import { deliverChartSvg } from "./deliver-report.ts";
import { type LedgerSoakLoad, measureLedgerSoak } from "./ledger-soak.ts";
import { measureMicro } from "./micro.ts";
import { measurePipeline, type PipelineOptions } from "./pipeline.ts";
import { measurePolls, type PollLoad, type PollResults } from "./poll-cpu.ts";
import { type ProfileRun, profileConfig } from "./profile.ts";
import {
  type BenchResults,
  INGEST_TO_BARE,
  judgeTargets,
  type Machine,
  machineLines,
  refreshDoc,
  renderText,
  tablesOf,
} from "./report.ts";
import { type SampleNote, sampleNotes } from "./sample-notes.ts";
import { startUpstreamStub } from "./targets.ts";
import { type CpuLoad, type CpuResults, cpuCell, measureCpu } from "./workerd-cpu.ts";
import { CLOCK_TICKS_PER_SECOND, PRECISE_CPU } from "./workerd-process.ts";

const PARTS = ["micro", "cpu", "polls", "profile", "deliver", "pipeline", "capacity", "bundle", "ledger"] as const;
type Part = (typeof PARTS)[number];

/** Every note's bytes derive from it; change it and every run measures other (equally sized) notes. */
const SEED = 0x6e70;

const FULL = {
  cpu: { requests: 1_500, warmupRequests: 500, concurrency: 8, runs: 5 } satisfies CpuLoad,
  // 20 runs of 300 polls (2 sizes × 2 Workers × 5) at a few ms each: about two minutes with the bundling.
  polls: { requests: 300, warmupRequests: 100, concurrency: 8, runs: 5 } satisfies PollLoad,
  // The stall window outlasts one deliver retry (RETRY_BASE_SECONDS = 30 in wrangler.deliver.toml), so a
  // batch the provider refused once is still counted; the timeout keeps the whole run under 5 minutes.
  pipeline: {
    notes: 1_000,
    concurrency: 32,
    pollIntervalMs: 250,
    timeoutMs: 90_000,
    stallMs: 45_000,
  } satisfies PipelineOptions,
  // Two stacks, 300 + 10 + 300 notes: about a minute and a half.
  capacity: { burstNotes: 300, trickleNotes: 10, timeoutMs: 90_000 } satisfies CapacityLoad,
  // ~400 ms of deliver's wall time per run (10 to 79 invocations by cell): about a minute for the part.
  deliver: {
    runs: 5,
    runMs: 400,
    warmupRunMs: 150,
    replayRequests: 30,
    webhookRequests: 60,
    httpConcurrency: 2,
  } satisfies DeliverLoad,
  // 5,000 real notes a simulated day, in rounds of an hour: a few seconds a day, a few minutes in all.
  ledger: { days: 40, notesPerDay: 1_000_000, scale: 200, roundsPerDay: 24 } satisfies LedgerSoakLoad,
};
const QUICK = {
  cpu: { requests: 300, warmupRequests: 100, concurrency: 8, runs: 1 } satisfies CpuLoad,
  polls: { requests: 100, warmupRequests: 30, concurrency: 8, runs: 1 } satisfies PollLoad,
  pipeline: {
    notes: 200,
    concurrency: 32,
    pollIntervalMs: 250,
    timeoutMs: 60_000,
    stallMs: 15_000,
  } satisfies PipelineOptions,
  capacity: { burstNotes: 100, trickleNotes: 3, timeoutMs: 60_000 } satisfies CapacityLoad,
  deliver: {
    runs: 1,
    runMs: 150,
    warmupRunMs: 60,
    replayRequests: 8,
    webhookRequests: 16,
    httpConcurrency: 2,
  } satisfies DeliverLoad,
  ledger: { days: 40, notesPerDay: 1_000_000, scale: 2_000, roundsPerDay: 24 } satisfies LedgerSoakLoad,
};

const repoRoot = fileURLToPath(new URL("..", import.meta.url));

function machine(): Machine {
  const require = createRequire(import.meta.url);
  const fromMiniflare = createRequire(require.resolve("miniflare"));
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    workerd: (fromMiniflare("workerd/package.json") as { version: string }).version,
    wrangler: (require("wrangler/package.json") as { version: string }).version,
    miniflare: (require("miniflare/package.json") as { version: string }).version,
    clockTicksPerSecond: CLOCK_TICKS_PER_SECOND,
    preciseCpu: PRECISE_CPU,
  };
}

async function main(): Promise<void> {
  const options = new Command()
    .name("pnpm bench")
    .description("Benchmarks notepipe against the naive relay; see docs/BENCHMARKS.md.")
    .option("--only <parts>", `comma-separated subset of ${PARTS.join(",")}`)
    .option("--quick", "fewer requests, runs and notes: a trial of the bench itself")
    .option("--merge", "with --only: put these parts into the committed results and docs, keeping the others")
    .parse()
    .opts<{ only?: string; quick?: boolean; merge?: boolean }>();
  const only = options.only?.split(",").map((part) => part.trim()) ?? [...PARTS];
  const unknown = only.filter((part) => !PARTS.includes(part as Part));
  if (unknown.length > 0) throw new Error(`Unknown part(s): ${unknown.join(", ")}; choose from ${PARTS.join(", ")}.`);
  const wants = (part: Part) => only.includes(part);
  const full = !options.quick && options.only === undefined;
  if (options.merge && (options.quick || options.only === undefined)) {
    throw new Error("--merge takes --only (the parts to replace) and no --quick: a trial never replaces results.");
  }
  const load = options.quick ? QUICK : FULL;

  const started = performance.now();
  const progress = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
  const notes = await sampleNotes(SEED);
  const scratch = mkdtempSync(join(tmpdir(), "notepipe-bench-"));
  try {
    const needBundles = wants("bundle") || wants("cpu") || wants("polls") || wants("profile");
    if (needBundles) progress("bundling both Workers with wrangler deploy --dry-run");
    const bundles = needBundles ? await bundleWorkers(repoRoot, join(scratch, "min")) : [];
    const ingestBundle = bundles.find((b) => b.worker === "ingest");
    const ingestProfileBundle = wants("profile")
      ? await bundleWorker(repoRoot, "ingest", "wrangler.ingest.toml", join(scratch, "unminified"), true)
      : undefined;

    const micro = wants("micro") ? await measureMicro(notes, progress) : null;

    const stub = await startUpstreamStub();
    let cpu: CpuResults | null = null;
    let polls: PollResults | null = null;
    const profiles: ProfileRun[] = [];
    try {
      const setup = {
        repoRoot,
        ingestBundle: ingestBundle ? join(ingestBundle.outdir, ingestBundle.main) : "",
        ingestProfileBundle: ingestProfileBundle ? join(ingestProfileBundle.outdir, ingestProfileBundle.main) : "",
        stubUrl: stub.url,
      };
      if (wants("cpu")) cpu = await measureCpu(setup, notes, load.cpu, progress);
      if (wants("polls")) polls = await measurePolls(setup, notes[0] as SampleNote, SEED, load.polls, progress);
      if (wants("profile")) {
        // Profile each ingest configuration that misses its target (any, when profile runs without
        // cpu) at the smallest size where it answers: the per-request overhead, not the bytes, is
        // what a miss is made of. The stubbed one shows notepipe's code alone.
        for (const config of ["ingest-stubbed", "ingest"] as const) {
          const misses = (size: string) => {
            if (cpu === null) return true;
            const bare = cpuCell(cpu, "bare", size);
            const ingest = cpuCell(cpu, config, size);
            if (!bare || !ingest || ingest.failure || bare.failure) return false;
            return ingest.cpuMsPerRequest > INGEST_TO_BARE * bare.cpuMsPerRequest;
          };
          const note = notes.find((n) => misses(n.size.label));
          if (note === undefined) continue;
          progress(`profiling ${config} at ${note.size.label}`);
          profiles.push(await profileConfig(setup, config, note, load.cpu));
        }
      }
    } finally {
      stub.server.close();
    }

    const deliver: DeliverResults | null = wants("deliver")
      ? await measureDeliver(repoRoot, join(scratch, "deliver"), notes, load.deliver, progress)
      : null;

    const pipeline = wants("pipeline") ? await measurePipeline(load.pipeline, progress) : null;
    const capacity = wants("capacity") ? await measureCapacity(load.capacity, progress) : null;
    const ledger = wants("ledger")
      ? await measureLedgerSoak(repoRoot, join(scratch, "ledger"), load.ledger, progress)
      : null;

    const partial: Omit<BenchResults, "targets"> = {
      date: new Date().toISOString(),
      durationSeconds: (performance.now() - started) / 1000,
      seed: SEED,
      machine: machine(),
      micro,
      cpu,
      polls,
      profiles,
      pipeline,
      bundles: wants("bundle") ? bundles.map(({ outdir: _, ...size }) => size) : null,
      deliver,
      capacity,
      ledger,
    };
    const resultsDir = join(repoRoot, "bench/results");
    const results = options.merge ? mergedResults(join(resultsDir, "latest.json"), partial, only) : judged(partial);

    console.log(["notepipe bench", ...machineLines(results), ""].join("\n"));
    for (const table of tablesOf(results)) console.log(`${renderText(table)}\n`);

    mkdirSync(resultsDir, { recursive: true });
    const json = `${JSON.stringify(results, null, 2)}\n`;
    if (!full && !options.merge) {
      writeFileSync(join(resultsDir, "latest.json.tmp"), json);
      progress("partial run: wrote bench/results/latest.json.tmp only");
      return;
    }
    writeFileSync(join(resultsDir, "latest.json"), json);
    const charts = { cpu: "images/cpu-per-request.svg", deliver: "images/deliver-cpu-per-invocation.svg" };
    mkdirSync(join(repoRoot, "docs/images"), { recursive: true });
    const written = ["bench/results/latest.json"];
    if (cpu !== null) {
      writeFileSync(join(repoRoot, "docs", charts.cpu), cpuChartSvg(cpu));
      written.push(`docs/${charts.cpu}`);
    }
    if (deliver !== null) {
      writeFileSync(join(repoRoot, "docs", charts.deliver), deliverChartSvg(deliver));
      written.push(`docs/${charts.deliver}`);
    }
    const docPath = join(repoRoot, "docs/BENCHMARKS.md");
    writeFileSync(docPath, refreshDoc(readFileSync(docPath, "utf8"), results, charts));
    progress(`wrote ${[...written, "docs/BENCHMARKS.md"].join(", ")}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function judged(partial: Omit<BenchResults, "targets">): BenchResults {
  return { ...partial, targets: judgeTargets(partial) };
}

/**
 * The committed run with this run's parts in place of its own: the date, machine and every other
 * part stay the committed run's (the ledger soak carries its own date).
 */
function mergedResults(path: string, partial: Omit<BenchResults, "targets">, parts: string[]): BenchResults {
  const { targets: _, ...committed } = JSON.parse(readFileSync(path, "utf8")) as BenchResults;
  const replaced: Partial<Record<Part, Partial<Omit<BenchResults, "targets">>>> = {
    micro: { micro: partial.micro },
    cpu: { cpu: partial.cpu },
    polls: { polls: partial.polls },
    profile: { profiles: partial.profiles },
    deliver: { deliver: partial.deliver },
    pipeline: { pipeline: partial.pipeline },
    capacity: { capacity: partial.capacity },
    bundle: { bundles: partial.bundles },
    ledger: { ledger: partial.ledger },
  };
  return judged(Object.assign(committed, ...parts.map((part) => replaced[part as Part])));
}

await main();
