/**
 * The deliver Worker's configurations under test, each in a plain Miniflare instance of its own (so
 * a workerd process of its own), like bench/targets.ts does for ingest. The Workers are the bench's
 * entries in bench/workers/deliver/, bundled with esbuild around deliver's real code as it is in the
 * working tree, minified as wrangler.deliver.toml deploys it.
 *
 * - Queue configurations: the batch driver (the only Worker with a socket) and one consumer behind
 *   its service binding: `bare` acks every message, `deliver` runs `deliverNotes`, `body-build`
 *   runs the request body build alone (bench/workers/deliver/body-build-consumer.ts).
 * - HTTP configurations: `deliver-http`, deliver's `http` app with stubbed bindings; `bare-http`,
 *   bench/workers/bare.js, which reads the body and answers 202.
 */

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type V4WorkerOptionsShape } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { workerdPidServing } from "./workerd-process.ts";

export const QUEUE_CONFIGS = ["bare", "deliver", "body-build"] as const;
export type QueueConfig = (typeof QUEUE_CONFIGS)[number];
export const HTTP_CONFIGS = ["bare-http", "deliver-http"] as const;
export type HttpConfig = (typeof HTTP_CONFIGS)[number];

export const QUEUE_CONFIG_DESCRIPTIONS: Record<QueueConfig, string> = {
  bare: "a consumer that acks every message: the runtime's floor for the batch (the driver's building of it included)",
  deliver:
    "deliver's own deliverNotes with the real vars of wrangler.deliver.toml, the provider stand-in behind MAIL_API_URL, and in-isolate stubs for LEDGER, STATUS and the queue producers",
  "body-build":
    "deliver's own sendEmails for as many of the note's emails as deliver sent per invocation, with a fetch that brings the body to bytes (a string to UTF-8, a stream read to its end) and sends nothing, then acks: the request body build alone, run on one-message batches beside bare on the same (the build does not read the batch)",
};

/** The consumers' entry modules, bundled per run into the scratch directory. */
const ENTRIES = {
  driver: "batch-driver.ts",
  bare: "ack-consumer.ts",
  deliver: "deliver-consumer.ts",
  "body-build": "body-build-consumer.ts",
  "deliver-http": "deliver-http.ts",
} as const;
type Entry = keyof typeof ENTRIES;

/** A bundle's path, or why esbuild could not build it (deliver's code changed under the bench). */
export type DeliverBundles = Record<Entry, { path: string } | { failure: string }>;

/**
 * Bundles one bench Worker around deliver's code with the esbuild that wrangler bundles with, with
 * wrangler's options for a Worker (es2024, the workerd conditions, minified as deliver deploys).
 */
export async function bundleBenchWorker(entry: string, outfile: string, minify = true): Promise<void> {
  // wrangler's own dependency, not one of the workspace's: the same esbuild that bundles the Workers.
  const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler"));
  const esbuild = fromWrangler("esbuild") as { build(options: Record<string, unknown>): Promise<unknown> };
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2024",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*", "node:*"],
    // Unminified for a CPU profile: V8's line ticks then name source lines (bench/deliver-profile.ts).
    minify,
    keepNames: true,
    sourcemap: "external",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
  });
}

/** Bundles each entry of deliver's bench Workers on its own ({@link bundleBenchWorker}). */
export async function bundleDeliverWorkers(repoRoot: string, outdir: string, minify = true): Promise<DeliverBundles> {
  const bundles = {} as DeliverBundles;
  for (const [entry, file] of Object.entries(ENTRIES) as [Entry, string][]) {
    const outfile = join(outdir, file.replace(/\.ts$/, ".js"));
    try {
      await bundleBenchWorker(join(repoRoot, "bench/workers/deliver", file), outfile, minify);
      bundles[entry] = { path: outfile };
    } catch (error) {
      bundles[entry] = { failure: `esbuild ${file}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  return bundles;
}

/** The vars and compatibility settings of wrangler.deliver.toml, as wrangler turns them into options. */
export function deliverSettings(repoRoot: string): {
  compatibilityDate: string | undefined;
  compatibilityFlags: string[];
  vars: Record<string, unknown>;
} {
  const logLevel = process.env.WRANGLER_LOG;
  // Wrangler warns that the secrets wrangler.deliver.toml requires are missing: the bench passes them.
  process.env.WRANGLER_LOG = "error";
  const options = unstable_getMiniflareWorkerOptions(join(repoRoot, "wrangler.deliver.toml"))
    .workerOptions as V4WorkerOptionsShape;
  if (logLevel === undefined) delete process.env.WRANGLER_LOG;
  else process.env.WRANGLER_LOG = logLevel;
  return {
    compatibilityDate: options.compatibilityDate,
    compatibilityFlags: options.compatibilityFlags ?? [],
    vars: (options.bindings ?? {}) as Record<string, unknown>,
  };
}

/** deliver's secrets for the bench: made up, never a real key. */
export const BENCH_SECRETS = {
  MAIL_API_KEY: "re_bench_not_a_key",
  OPS_TOKENS: '["ops-bench-token-0123456789abcdef"]',
  // whsec_ + base64 of 24 fixed bytes.
  RESEND_WEBHOOK_SECRET: `whsec_${Buffer.from("notepipe-bench-svix-key!").toString("base64")}`,
  POSTMARK_WEBHOOK_CREDENTIALS: "bench:notepipe-bench-password",
} as const;
export const BENCH_OPS_TOKEN = "ops-bench-token-0123456789abcdef";

export interface DeliverTargetSetup {
  repoRoot: string;
  bundles: DeliverBundles;
  /** The provider stand-in, MAIL_API_URL for the consumers. */
  providerUrl: string;
}

export interface DeliverTarget<Config extends string> {
  config: Config;
  miniflare: Miniflare;
  /** The driver's (queue) or the Worker's (HTTP) own socket. */
  url: string;
  pid: number;
  /** The first few distinct lines the Workers logged. */
  logs: string[];
}

type MiniflareV4Options = Parameters<typeof convertV4MiniflareOptions>[0];

/** A bundle as Miniflare loads it: module names are paths relative to modulesRoot (outside the repository). */
function bundleModule(bundles: DeliverBundles, entry: Entry): { scriptPath: string; modulesRoot: string } {
  const bundle = bundles[entry];
  if ("failure" in bundle) throw new Error(bundle.failure);
  return { scriptPath: bundle.path, modulesRoot: dirname(bundle.path) };
}

async function start<Config extends string>(
  config: Config,
  options: MiniflareV4Options,
  socketOf: string,
  inspectorPort?: number,
): Promise<DeliverTarget<Config>> {
  const logs: string[] = [];
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      ...options,
      host: "127.0.0.1",
      port: 0,
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
  const url = (await miniflare.unsafeGetDirectURL(socketOf)).href.replace(/\/$/, "");
  return { config, miniflare, url, pid: workerdPidServing(Number(new URL(url).port)), logs };
}

const DIRECT = [{ host: "127.0.0.1", port: 0 }];

/**
 * A queue configuration: the driver, and the consumer it hands every batch to. With `inspectorPort`,
 * workerd's inspector listens there; the consumer's isolate is `core:user:<config>-consumer`.
 */
export function startQueueTarget(
  setup: DeliverTargetSetup,
  config: QueueConfig,
  inspectorPort?: number,
): Promise<DeliverTarget<QueueConfig>> {
  const { compatibilityDate, compatibilityFlags, vars } = deliverSettings(setup.repoRoot);
  const consumer = `${config}-consumer`;
  return start(
    config,
    {
      workers: [
        {
          name: "driver",
          modules: true,
          ...bundleModule(setup.bundles, "driver"),
          compatibilityDate,
          compatibilityFlags: ["service_binding_extra_handlers"],
          serviceBindings: { CONSUMER: consumer },
          unsafeDirectSockets: DIRECT,
        },
        {
          name: consumer,
          modules: true,
          ...bundleModule(setup.bundles, config),
          compatibilityDate,
          compatibilityFlags,
          bindings:
            config === "bare"
              ? {}
              : { ...vars, MAIL_API_URL: setup.providerUrl, MAIL_API_KEY: BENCH_SECRETS.MAIL_API_KEY },
        },
      ],
    },
    "driver",
    inspectorPort,
  );
}

/** An HTTP configuration: deliver's app with its secrets, or the bare floor; `inspectorPort` as for a queue one. */
export function startHttpTarget(
  setup: DeliverTargetSetup,
  config: HttpConfig,
  inspectorPort?: number,
): Promise<DeliverTarget<HttpConfig>> {
  const { compatibilityDate, compatibilityFlags, vars } = deliverSettings(setup.repoRoot);
  if (config === "bare-http") {
    return start(
      config,
      {
        name: config,
        modules: true,
        scriptPath: join(setup.repoRoot, "bench/workers/bare.js"),
        compatibilityDate,
        unsafeDirectSockets: DIRECT,
      },
      config,
    );
  }
  return start(
    config,
    {
      name: config,
      modules: true,
      ...bundleModule(setup.bundles, "deliver-http"),
      compatibilityDate,
      compatibilityFlags,
      bindings: { ...vars, MAIL_API_URL: setup.providerUrl, ...BENCH_SECRETS },
      unsafeDirectSockets: DIRECT,
    },
    config,
    inspectorPort,
  );
}
