/**
 * CPU per request inside workerd. Each configuration (bench/targets.ts) runs in its own workerd
 * process; a separate load process (bench/load.ts) sends the requests; the workerd process's
 * utime + stime is read from /proc before and after each run. Runs are interleaved across
 * configurations so that drift hits all alike, and the median of the runs is kept. A ratio to bare
 * is the median of each run's own ratio to the bare run just before it (paired), not the ratio of
 * the medians: the machine's speed drifts by tens of percent between runs, alike for neighbours.
 */

import { type LoadJob, LoadProcess } from "./load.ts";
import type { SampleNote } from "./sample-notes.ts";
import { median, percentile } from "./stats.ts";
import {
  CPU_CONFIGS,
  type CpuConfig,
  loadJob,
  runLoad,
  startTarget,
  type Target,
  type TargetSetup,
  trailingWorkMs,
} from "./targets.ts";
import { cpuMsBetween, readCpu, waitUntilIdle } from "./workerd-process.ts";

export interface CpuLoad {
  /** Measured requests per run, per configuration and size. */
  requests: number;
  /** Requests before the first measured run of each configuration and size, not measured. */
  warmupRequests: number;
  concurrency: number;
  /** Measured runs per configuration and size; the median is reported. */
  runs: number;
}

export interface CpuRun {
  cpuMsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerSecond: number;
}

export interface CpuCell extends CpuRun {
  config: CpuConfig;
  size: string;
  /** Every run; the fields above are their medians. */
  runs: CpuRun[];
  /**
   * Median over runs of (this run's CPU ÷ the bare run of the same round and size): the figure the
   * report and the targets use. Undefined for bare itself, or when bare has no runs at this size.
   */
  overBare?: number;
  /** Set when the Worker did not answer as expected at this size: the cell has no figures then. */
  failure?: string;
}

export interface CpuResults {
  load: CpuLoad;
  /** workerd's pid per configuration, for the record. */
  pids: Partial<Record<CpuConfig, number>>;
  cells: CpuCell[];
}

/** One configuration's cell at one note size. */
export function cpuCell(results: CpuResults, config: CpuConfig, size: string): CpuCell | undefined {
  return results.cells.find((c) => c.config === config && c.size === size);
}

/** The note sizes measured, in order. */
export function cpuSizes(results: CpuResults): string[] {
  return [...new Set(results.cells.map((c) => c.size))];
}

/** One measured run of `job` against `target`: workerd's CPU per request, from idle to idle. */
export async function measureRun(target: Target, load: LoadProcess, job: LoadJob): Promise<CpuRun> {
  await waitUntilIdle(target.pid, 0);
  const before = readCpu(target.pid);
  const result = await runLoad(target, load, job);
  await waitUntilIdle(target.pid, trailingWorkMs(target));
  const after = readCpu(target.pid);
  return {
    cpuMsPerRequest: cpuMsBetween(before, after) / job.requests,
    p50Ms: percentile(result.latenciesMs, 50),
    p99Ms: percentile(result.latenciesMs, 99),
    requestsPerSecond: job.requests / (result.elapsedMs / 1000),
  };
}

export async function measureCpu(
  setup: TargetSetup,
  notes: readonly SampleNote[],
  load: CpuLoad,
  progress: (message: string) => void,
  only: readonly CpuConfig[] = CPU_CONFIGS,
): Promise<CpuResults> {
  const targets: Target[] = [];
  const loader = new LoadProcess();
  try {
    // One at a time: each start spawns workerd and compiles, and the two cores are shared.
    for (const config of only) targets.push(await startTarget(setup, config));
    const key = (target: Target, note: SampleNote) => `${target.config} ${note.size.label}`;
    const failures = new Map<string, string>();
    for (const note of notes) {
      for (const target of targets) {
        progress(`warm-up ${key(target, note)}`);
        try {
          await measureRun(target, loader, loadJob(target, note, load.warmupRequests, load.concurrency));
        } catch (error) {
          // One broken cell (say, a size a binding refuses) must not cost the rest of the table.
          const failure = error instanceof Error ? error.message : String(error);
          failures.set(key(target, note), failure);
          progress(`  ${key(target, note)} fails: ${failure}`);
        }
      }
    }
    const runs = new Map<string, CpuRun[]>();
    for (let run = 1; run <= load.runs; run++) {
      for (const note of notes) {
        for (const target of targets) {
          if (failures.has(key(target, note))) continue;
          progress(`run ${run}/${load.runs} ${key(target, note)}`);
          const measured = await measureRun(target, loader, loadJob(target, note, load.requests, load.concurrency));
          runs.set(key(target, note), [...(runs.get(key(target, note)) ?? []), measured]);
        }
      }
    }
    const cells: CpuCell[] = [];
    for (const note of notes) {
      for (const target of targets) {
        const cellRuns = runs.get(key(target, note)) ?? [];
        const failure = failures.get(key(target, note));
        const bareRuns = runs.get(`bare ${note.size.label}`) ?? [];
        const paired = cellRuns.length > 0 && bareRuns.length === cellRuns.length && target.config !== "bare";
        cells.push({
          config: target.config,
          size: note.size.label,
          cpuMsPerRequest: median(cellRuns.map((r) => r.cpuMsPerRequest)),
          p50Ms: median(cellRuns.map((r) => r.p50Ms)),
          p99Ms: median(cellRuns.map((r) => r.p99Ms)),
          requestsPerSecond: median(cellRuns.map((r) => r.requestsPerSecond)),
          runs: cellRuns,
          ...(paired
            ? { overBare: median(cellRuns.map((r, i) => r.cpuMsPerRequest / (bareRuns[i] as CpuRun).cpuMsPerRequest)) }
            : {}),
          ...(failure === undefined ? {} : { failure }),
        });
      }
    }
    return { load, pids: Object.fromEntries(targets.map((t) => [t.config, t.pid])), cells };
  } finally {
    loader.stop();
    for (const target of targets) await target.miniflare.dispose();
  }
}
