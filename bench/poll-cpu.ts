/**
 * CPU per status poll inside workerd: `POST /v1/notes/status` with 1 id and with 100 (the most one
 * poll may ask), as the SDK sends it (its client token and `Notepipe-To`), against the ingest bundle
 * with its real (simulated) bindings and with its rate limiters stubbed. The difference between the
 * two is what counting a poll against STATUS_LIMITER and STATUS_ADDRESS_LIMITER costs under the
 * local workerd, where Miniflare's stand-in of the binding runs in the same process (bench/targets.ts).
 * Measured like the cpu part (bench/workerd-cpu.ts): each configuration in its own workerd,
 * schedstat before and after, runs interleaved, the median kept. No record exists for the ids, so
 * every KV read misses: the same cost for every configuration.
 */

import { noteIdToUuid } from "@notepipe/frame";
import { MAX_STATUS_IDS } from "@notepipe/pipeline";
import { type LoadJob, LoadProcess } from "./load.ts";
import { RECIPIENT, type SampleNote, seededBytes } from "./sample-notes.ts";
import { median } from "./stats.ts";
import { type CpuConfig, startTarget, type Target, type TargetSetup } from "./targets.ts";
import { type CpuRun, measureRun } from "./workerd-cpu.ts";

export const POLL_CONFIGS = ["ingest-stubbed", "ingest"] as const satisfies readonly CpuConfig[];
export const POLL_SIZES = [1, MAX_STATUS_IDS] as const;

export interface PollLoad {
  /** Measured polls per run, per configuration and size. */
  requests: number;
  warmupRequests: number;
  concurrency: number;
  runs: number;
}

export interface PollCell {
  config: (typeof POLL_CONFIGS)[number];
  ids: number;
  /** Medians over the runs. */
  cpuMsPerPoll: number;
  p50Ms: number;
  p99Ms: number;
  runsCpuMsPerPoll: number[];
}

export interface PollResults {
  load: PollLoad;
  cells: PollCell[];
}

/** `n` distinct note ids drawn from the seed: the same body on every run. */
function pollBody(seed: number, n: number): Uint8Array {
  const ids = Array.from({ length: n }, (_, i) => noteIdToUuid(seededBytes(seed + i, 16)));
  return new TextEncoder().encode(JSON.stringify({ ids }));
}

function pollJob(target: Target, note: SampleNote, body: Uint8Array, requests: number, load: PollLoad): LoadJob {
  return {
    url: `${target.url}/v1/notes/status`,
    bodies: [body],
    // As the SDK polls: its token and the address it was issued for (src/status-poll-limit.ts).
    headers: { "content-type": "application/json", authorization: note.authorization, "notepipe-to": RECIPIENT },
    requests,
    concurrency: load.concurrency,
    expectStatus: 200,
  };
}

export async function measurePolls(
  setup: TargetSetup,
  note: SampleNote,
  seed: number,
  load: PollLoad,
  progress: (message: string) => void,
): Promise<PollResults> {
  const targets: Target[] = [];
  const loader = new LoadProcess();
  try {
    for (const config of POLL_CONFIGS) targets.push(await startTarget(setup, config));
    const bodies = new Map(POLL_SIZES.map((n) => [n, pollBody(seed, n)]));
    const runs = new Map<string, CpuRun[]>();
    for (const n of POLL_SIZES) {
      for (const target of targets) {
        progress(`warm-up ${target.config} poll of ${n}`);
        await measureRun(target, loader, pollJob(target, note, bodies.get(n) as Uint8Array, load.warmupRequests, load));
      }
    }
    for (let run = 1; run <= load.runs; run++) {
      for (const n of POLL_SIZES) {
        for (const target of targets) {
          progress(`run ${run}/${load.runs} ${target.config} poll of ${n}`);
          const job = pollJob(target, note, bodies.get(n) as Uint8Array, load.requests, load);
          const key = `${target.config} ${n}`;
          runs.set(key, [...(runs.get(key) ?? []), await measureRun(target, loader, job)]);
        }
      }
    }
    const cells = POLL_SIZES.flatMap((ids) =>
      POLL_CONFIGS.map((config): PollCell => {
        const measured = runs.get(`${config} ${ids}`) ?? [];
        return {
          config,
          ids,
          cpuMsPerPoll: median(measured.map((m) => m.cpuMsPerRequest)),
          p50Ms: median(measured.map((m) => m.p50Ms)),
          p99Ms: median(measured.map((m) => m.p99Ms)),
          runsCpuMsPerPoll: measured.map((m) => m.cpuMsPerRequest),
        };
      }),
    );
    return { load, cells };
  } finally {
    loader.stop();
    for (const target of targets) await target.miniflare.dispose();
  }
}
