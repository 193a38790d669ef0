/**
 * The Workers under test, each in a plain Miniflare instance of its own (so a workerd process of its
 * own), programmatic, with no wrangler proxy in front. Requests reach a Worker on its own socket
 * (`unsafeDirectSockets`), which also skips Miniflare's entry Worker, absent in production.
 */

import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createNetServer } from "node:net";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type V4WorkerOptionsShape } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import type { LoadJob, LoadProcess, LoadResult } from "./load.ts";
import { type SampleNote, TOKEN_SECRETS_JSON } from "./sample-notes.ts";
import { workerdPidServing } from "./workerd-process.ts";

export const CPU_CONFIGS = ["bare", "contract", "ingest-stubbed", "bindings", "ingest", "naive"] as const;
export type CpuConfig = (typeof CPU_CONFIGS)[number];

export const CPU_CONFIG_DESCRIPTIONS: Record<CpuConfig, string> = {
  bare: "reads the body, answers 202: the runtime's floor",
  contract:
    'bare + one WebCrypto HMAC-SHA256 verify + a 202 {"id"} JSON answer: what any Worker honouring ingest\'s contract pays',
  "ingest-stubbed":
    "the same ingest bundle with its queues and rate limiters replaced by in-isolate no-ops: ingest's own code (routing, frame, token, JSON answer) on top of the floor",
  bindings:
    "bare + ingest's rate-limiter call and queue send, no checks: the floor with Miniflare's bindings, which it simulates in JavaScript inside the same workerd",
  ingest: "the real ingest Worker as wrangler bundles it, with its real (simulated) bindings and token check",
  naive: "the seed's naive JSON relay: parse, stringify, fetch a local stub, parse, answer JSON",
};

/**
 * Wraps the ingest bundle so that it runs with no-op bindings: what remains is the code notepipe
 * ships. Written next to the bundle, which it imports.
 */
const STUBBED_BINDINGS_WRAPPER = `// Written by bench/workerd-cpu.ts: the ingest bundle with its Queues and rate limiters as no-ops.
import ingest from "./index.js";
const NOTES_QUEUE = { async send() {}, async sendBatch() {} };
const NOTES_LARGE_QUEUE = NOTES_QUEUE;
const TOKEN_LIMITER = { async limit() { return { success: true }; } };
const STATUS_LIMITER = TOKEN_LIMITER;
const STATUS_ADDRESS_LIMITER = TOKEN_LIMITER;
let stubbedEnv;
export default {
  fetch(request, env, ctx) {
    stubbedEnv ??= { ...env, NOTES_QUEUE, NOTES_LARGE_QUEUE, TOKEN_LIMITER, STATUS_LIMITER, STATUS_ADDRESS_LIMITER };
    return ingest.fetch(request, stubbedEnv, ctx);
  },
};
`;

export interface TargetSetup {
  repoRoot: string;
  /** The ingest bundle written by `wrangler deploy --dry-run`; its source map sits beside it. */
  ingestBundle: string;
  /** The same, unminified (`--no-minify`), for profiles that name source lines. */
  ingestProfileBundle: string;
  /** Where the naive relay's upstream stub listens. */
  stubUrl: string;
}

/** The drop consumer takes batches of this many, or what arrived within this many seconds. */
const CONSUMER_BATCH = { maxBatchSize: 100, maxBatchTimeout: 1 };

type MiniflareV4Options = Parameters<typeof convertV4MiniflareOptions>[0];

export interface Target {
  config: CpuConfig;
  miniflare: Miniflare;
  url: string;
  pid: number;
  /** Whether queued messages keep workerd busy after the last response (the consumer's batch timeout). */
  queues: boolean;
  /** The first few distinct lines the Workers logged (errors included): workerd's stderr stays quiet. */
  logs: string[];
}

/**
 * The bindings wrangler.ingest.toml declares, as wrangler itself turns them into Miniflare options,
 * with a rate limit no run reaches. Service bindings (DELIVER, for /ops and /webhooks) are left out:
 * `POST /v1/notes` never calls them, and each would need its Worker in the same instance.
 */
function ingestBindings(repoRoot: string) {
  // The config lists TOKEN_SECRETS as required and wrangler warns that the environment lacks it;
  // the bench passes it as a binding instead.
  const logLevel = process.env.WRANGLER_LOG;
  process.env.WRANGLER_LOG = "error";
  // Wrangler declares these options as Omit<…> of a type with an index signature, which erases every
  // property's type; they are Miniflare's v4 worker options.
  const workerOptions = unstable_getMiniflareWorkerOptions(join(repoRoot, "wrangler.ingest.toml"))
    .workerOptions as V4WorkerOptionsShape;
  if (logLevel === undefined) delete process.env.WRANGLER_LOG;
  else process.env.WRANGLER_LOG = logLevel;
  const ratelimits = Object.fromEntries(
    Object.entries(workerOptions.ratelimits ?? {}).map(([name, options]) => [
      name,
      { ...options, simple: { limit: 1_000_000_000, period: 60 as const } },
    ]),
  );
  return {
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: workerOptions.compatibilityFlags,
    bindings: workerOptions.bindings,
    kvNamespaces: workerOptions.kvNamespaces,
    queueProducers: workerOptions.queueProducers,
    ratelimits,
  };
}

/** The script a configuration runs: the Worker whose frames a profile maps back to source. */
export function scriptOf(setup: TargetSetup, config: CpuConfig): string {
  const bench = (file: string) => join(setup.repoRoot, "bench/workers", file);
  switch (config) {
    case "bare":
      return bench("bare.js");
    case "contract":
      return bench("contract-floor.js");
    case "bindings":
      return bench("bindings-floor.js");
    case "naive":
      return bench("naive-relay.js");
    case "ingest":
    case "ingest-stubbed":
      return setup.ingestBundle;
  }
}

/** Miniflare options of one configuration, without the shared (host, port, logging) part. */
function targetOptions(setup: TargetSetup, config: CpuConfig): MiniflareV4Options {
  const ingest = ingestBindings(setup.repoRoot);
  const { compatibilityDate } = ingest;
  const direct = [{ host: "127.0.0.1", port: 0 }];
  const dropConsumer = {
    name: "drop-consumer",
    modules: true,
    scriptPath: join(setup.repoRoot, "bench/workers/drop-consumer.js"),
    compatibilityDate,
    // Frames over 5,120 bytes go on notes-large (SMALL_FRAME_MAX_BYTES): a consumer for each, as deployed.
    queueConsumers: { notes: CONSUMER_BATCH, "notes-large": CONSUMER_BATCH },
  };
  switch (config) {
    case "bare":
      return {
        name: "bare",
        modules: true,
        scriptPath: scriptOf(setup, "bare"),
        compatibilityDate,
        unsafeDirectSockets: direct,
      };
    case "contract":
      return {
        name: "contract",
        modules: true,
        scriptPath: scriptOf(setup, "contract"),
        compatibilityDate,
        bindings: { HMAC_SECRET: "notepipe-bench-contract-floor" },
        unsafeDirectSockets: direct,
      };
    case "ingest-stubbed": {
      const wrapper = join(dirname(setup.ingestBundle), "stubbed-bindings.js");
      writeFileSync(wrapper, STUBBED_BINDINGS_WRAPPER);
      return {
        name: "ingest-stubbed",
        // Listed, not discovered: Miniflare does not follow the wrapper's import on its own.
        modules: [
          { type: "ESModule", path: wrapper },
          { type: "ESModule", path: setup.ingestBundle },
        ],
        modulesRoot: dirname(setup.ingestBundle),
        compatibilityDate,
        compatibilityFlags: ingest.compatibilityFlags,
        bindings: { ...ingest.bindings, TOKEN_SECRETS: TOKEN_SECRETS_JSON },
        kvNamespaces: ingest.kvNamespaces,
        unsafeDirectSockets: direct,
      };
    }
    case "bindings":
      return {
        workers: [
          {
            ...ingest,
            name: "bindings",
            modules: true,
            scriptPath: scriptOf(setup, "bindings"),
            unsafeDirectSockets: direct,
          },
          dropConsumer,
        ],
      };
    case "ingest":
      return {
        workers: [
          {
            ...ingest,
            name: "ingest",
            modules: true,
            scriptPath: scriptOf(setup, "ingest"),
            // Module names are paths relative to this; the bundle lives outside the repository.
            modulesRoot: dirname(setup.ingestBundle),
            bindings: { ...ingest.bindings, TOKEN_SECRETS: TOKEN_SECRETS_JSON },
            unsafeDirectSockets: direct,
          },
          dropConsumer,
        ],
      };
    case "naive":
      return {
        name: "naive",
        modules: true,
        scriptPath: scriptOf(setup, "naive"),
        compatibilityDate,
        bindings: { STUB_URL: setup.stubUrl, MAIL_API_KEY: "re_bench_not_a_key" },
        unsafeDirectSockets: direct,
      };
  }
}

/** Starts one configuration; with `inspectorPort`, workerd's inspector listens there. */
export async function startTarget(setup: TargetSetup, config: CpuConfig, inspectorPort?: number): Promise<Target> {
  const logs: string[] = [];
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      ...targetOptions(setup, config),
      host: "127.0.0.1",
      port: 0,
      // false: a placeholder `request.cf`, instead of fetching the real one from the network.
      cf: false,
      log: new Log(LogLevel.WARN),
      handleStructuredLogs: ({ level, message }) => {
        const line = `${level}: ${message}`;
        if (logs.length < 5 && !logs.includes(line)) logs.push(line);
      },
      ...(inspectorPort === undefined ? {} : { inspectorPort }),
    }),
  );
  await miniflare.ready;
  const url = (await miniflare.unsafeGetDirectURL(config)).href.replace(/\/$/, "");
  const pid = workerdPidServing(Number(new URL(url).port));
  return { config, miniflare, url, pid, queues: config === "bindings" || config === "ingest", logs };
}

/**
 * How long workerd may stay busy after a run's last response: a queue's consumer gets the last partial
 * batch after its batch timeout, and that work belongs to the run that sent it.
 */
export function trailingWorkMs(target: Target): number {
  return target.queues ? CONSUMER_BATCH.maxBatchTimeout * 1000 + 200 : 0;
}

/** A stand-in for the mail provider's single-send endpoint: reads the body, answers Resend's shape. */
export async function startUpstreamStub(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ id: randomUUID() }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}

/** The requests of one run against a target: the note as that Worker takes it. */
export function loadJob(target: Target, note: SampleNote, requests: number, concurrency: number): LoadJob {
  const common = { requests, concurrency, expectStatus: 202 };
  if (target.config === "naive") {
    return {
      ...common,
      url: `${target.url}/`,
      bodies: [note.naiveBody],
      headers: { "content-type": "application/json" },
    };
  }
  return {
    ...common,
    url: `${target.url}/v1/notes`,
    bodies: [note.frame],
    headers: { "content-type": "application/octet-stream", authorization: note.authorization },
  };
}

/** Runs a job and refuses any answer but the expected one, with what the Worker logged. */
export async function runLoad(target: Target, load: LoadProcess, job: LoadJob): Promise<LoadResult> {
  const result = await load.run(job);
  if (result.unexpected !== undefined) {
    const logged = target.logs.length > 0 ? ` (Worker logged: ${target.logs.join(" | ")})` : "";
    throw new Error(`${target.config}: expected ${job.expectStatus}, got ${result.unexpected}${logged}`);
  }
  return result;
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
