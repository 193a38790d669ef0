/**
 * The load generator of the CPU benchmark. It runs as a child process (`fork`) so that its own CPU
 * never lands in workerd's counters: {@link LoadProcess} is the parent's handle, and the bottom of
 * this file is the child, which sends each job's requests at a fixed concurrency with Node's fetch
 * (undici; keep-alive is its default, so a job reuses `concurrency` connections) and reports every
 * request's wall latency.
 */

import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface LoadJob {
  url: string;
  /** POST unless said; a GET sends no body (`bodies` is then `[]`). */
  method?: "GET" | "POST";
  /** Sent in turn; every response must have `expectStatus`. */
  bodies: Uint8Array[];
  headers: Record<string, string>;
  requests: number;
  concurrency: number;
  expectStatus: number;
}

export interface LoadResult {
  /** Per request, from just before fetch() to the end of the response body, in ms. */
  latenciesMs: number[];
  /** From the first request's start to the last response's end, in ms. */
  elapsedMs: number;
  /** The first response with another status than expected, if any, as "<status> <body>". */
  unexpected?: string;
}

/** A forked load process, one job at a time. */
export class LoadProcess {
  readonly #child: ChildProcess;

  constructor() {
    this.#child = fork(fileURLToPath(import.meta.url), [], { serialization: "advanced", stdio: "inherit" });
  }

  run(job: LoadJob): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`The load process exited (${code}).`));
      this.#child.once("exit", onExit);
      this.#child.once("message", (result: LoadResult) => {
        this.#child.off("exit", onExit);
        resolve(result);
      });
      this.#child.send(job);
    });
  }

  stop(): void {
    this.#child.kill();
  }
}

async function runJob(job: LoadJob): Promise<LoadResult> {
  const latenciesMs = new Array<number>(job.requests);
  let next = 0;
  let unexpected: string | undefined;
  const started = performance.now();
  async function lane(): Promise<void> {
    while (next < job.requests && unexpected === undefined) {
      const i = next++;
      const t0 = performance.now();
      const response = await fetch(job.url, {
        method: job.method ?? "POST",
        headers: job.headers,
        body: job.method === "GET" ? null : (job.bodies[i % job.bodies.length] as Uint8Array<ArrayBuffer>),
      });
      const text = await response.text();
      latenciesMs[i] = performance.now() - t0;
      if (response.status !== job.expectStatus) unexpected ??= `${response.status} ${text.slice(0, 300)}`;
    }
  }
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  const elapsedMs = performance.now() - started;
  return unexpected === undefined ? { latenciesMs, elapsedMs } : { latenciesMs: [], elapsedMs, unexpected };
}

// The child: this file started by LoadProcess, not imported.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.send !== undefined) {
  process.on("message", (job: LoadJob) => {
    runJob(job).then(
      (result) => process.send?.(result),
      (error: unknown) => process.send?.({ latenciesMs: [], elapsedMs: 0, unexpected: String(error) }),
    );
  });
}
