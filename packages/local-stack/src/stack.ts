/**
 * Starts the local stack: the local mail provider (in this process) and one `wrangler dev` session
 * running both Workers, which share the queues and the KV namespace. `pnpm dev`, the demo's tests,
 * the end-to-end tests and the benchmark all start it through {@link startStack}.
 *
 * Vars for the deliver Worker: wrangler passes `--var` to the first config only (the session's
 * other Workers get just `--env`: workers-sdk, packages/wrangler/src/dev/start-dev.ts), so a
 * `--var MAIL_API_URL:…` never reaches deliver. What does reach every Worker is the `.dev.vars`
 * beside its config, whose keys override that config's `[vars]` even under `[secrets] required`.
 * `pnpm dev` runs the repo's own configs with the repo's `.dev.vars`, whose `MAIL_API_URL` points
 * deliver at the provider on 127.0.0.1:8788. Anything else (a throwaway stack, another provider
 * port, a `.dev.vars` without that line, deliver vars such as short retry delays) runs copies of
 * the two configs in a directory of their own, next to a `.dev.vars` holding the overrides.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { join } from "node:path";
import {
  DEFAULT_API_KEY,
  DEFAULT_PROVIDER_PORT,
  type LocalProviderOptions,
  type RunningLocalProvider,
  startLocalProvider,
} from "@notepipe/local-provider";
import { DEV_ENROLL_SECRETS, DEV_TOKEN_SECRETS } from "@notepipe/token";
import { devVarsLine, ensureDevVars, exampleDevVars, ROOT, readDevVars } from "./dev-vars.ts";
import { isHttpUrl, isLocalProviderUrl } from "./mail-target.ts";
import {
  declareProviderSettings,
  declareSecrets,
  type PlannedProvider,
  planProviders,
  providerVars,
  type StackProvider,
} from "./providers.ts";

export const DEFAULT_INGEST_PORT = 8787;
const CONFIGS = { ingest: "wrangler.ingest.toml", deliver: "wrangler.deliver.toml" } as const;
/** The deliver Worker's secrets for its ops API and webhooks (wrangler.deliver.toml `[secrets]`). */
const DELIVER_HTTP_SECRETS = ["OPS_TOKENS", "RESEND_WEBHOOK_SECRET", "POSTMARK_WEBHOOK_CREDENTIALS"] as const;
/** The deliver Worker's optional secrets (wrangler.deliver.toml `[secrets]`), declared in a copy that sets them. */
const OPTIONAL_DELIVER_SECRETS = ["OPS_ALERT_WEBHOOK_URL"] as const;
/** wrangler dev's own default, so `pnpm dev` and a bare `wrangler dev` see the same data. */
const DEFAULT_PERSIST_DIR = join(ROOT, ".wrangler", "state");

/** Ingest's Rate Limiting bindings (wrangler.ingest.toml `[[ratelimits]]`). */
export type IngestLimiter = "TOKEN_LIMITER" | "STATUS_LIMITER" | "STATUS_ADDRESS_LIMITER" | "ENROLL_IP_LIMITER";

/**
 * A throwaway stack's limits. Its every client is this machine: the e2e runs and the pipeline bench
 * poll thousands of notes from 127.0.0.1 (status limits count ids read, 120 and 300 a minute in
 * production), and the browser tests enrol a dozen addresses a minute from it (10 in production).
 * TOKEN_LIMITER keeps its 60 notes a minute per token, which the tests that send notes plan for.
 */
export const THROWAWAY_INGEST_LIMITS: Readonly<Partial<Record<IngestLimiter, number>>> = {
  STATUS_LIMITER: 1_000_000,
  STATUS_ADDRESS_LIMITER: 1_000_000,
  ENROLL_IP_LIMITER: 1_000,
};

/**
 * A throwaway stack's ingest vars: the e2e runs and the browser tests ask for more code emails in a
 * run than the 20 a day CODE_EMAILS_PER_DAY lets a deployment send (wrangler.ingest.toml).
 */
export const THROWAWAY_INGEST_VARS: Readonly<Record<string, string>> = { CODE_EMAILS_PER_DAY: "1000" };

export interface StackOptions {
  /** Ingest's port; 0 picks a free one. Default 8787. */
  ingestPort?: number;
  /** The local provider's port; 0 picks a free one. Default 8788. */
  providerPort?: number;
  /**
   * Where the deliver Worker sends (its MAIL_API_URL). Default: `.dev.vars`'s MAIL_API_URL, or for a
   * throwaway stack the local provider. Only the local provider's own URL,
   * `http://127.0.0.1:<providerPort>` (or `localhost` at that port), starts it; any other URL, on
   * this machine or not, is where deliver sends (a mock of your own, a staging or the real API), and
   * the local provider is not started (mail-target.ts).
   */
  mailApiUrl?: string;
  /** Overrides of the deliver Worker's `[vars]` (a key it does not declare is ignored by wrangler). */
  deliverVars?: Readonly<Record<string, string>>;
  /**
   * `max_retries` of the `notes` and `notes-large` consumers in the copies (wrangler.deliver.toml
   * says 10): a drill that needs dead letters gets them after this many retries, not 11 deliveries.
   */
  deliverMaxRetries?: number;
  /**
   * The deliver Worker's `OPS_ALERT_WEBHOOK_URL`, where its alerts are posted: an optional secret,
   * so the stack's config copy declares it (wrangler dev passes a Worker only the secrets it declares).
   */
  opsAlertWebhookUrl?: string;
  /**
   * Overrides of the ingest Worker's `[vars]`, as `deliverVars` (the two share the copies' `.dev.vars`).
   * Default: {@link THROWAWAY_INGEST_VARS} for a throwaway stack, none otherwise.
   */
  ingestVars?: Readonly<Record<string, string>>;
  /**
   * Whether the local provider posts delivery webhooks (delivered, bounced) to ingest's
   * `/webhooks/*`, signed with the stack's secrets, so that notes go on from `sent` to `delivered`.
   * `pnpm dev` turns it on. Default false: a test that counts `sent` notes sees them stay `sent`.
   */
  deliveryWebhooks?: boolean;
  /** Rate limit, faults, … for the local provider. Its API key is the deliver Worker's `MAIL_API_KEY`. */
  provider?: Omit<LocalProviderOptions, "apiKeys">;
  /**
   * Several local providers, in failover order (a primary, then its secondaries), each an account of
   * its own, and deliver given the list (`MAIL_PROVIDERS` and each one's settings: providers.ts).
   * `provider` is the base options of each. Not with `mailApiUrl`. Default: one provider, as above.
   */
  providers?: readonly StackProvider[];
  /**
   * A throwaway stack: it runs with the secrets of `.dev.vars.example`, and its configs, `.dev.vars`
   * and KV/queue state live in `.wrangler/stacks/<port>/`, removed by `stop()`. Default false:
   * `pnpm dev` reads (or creates) `.dev.vars` and keeps its state in `.wrangler/state`.
   */
  ephemeral?: boolean;
  /**
   * The `simple.limit` of ingest's Rate Limiting bindings, written into the stack's copy of
   * wrangler.ingest.toml (ingest counts 127.0.0.1 like any client, and has no setting of its own for
   * a local run). Default: {@link THROWAWAY_INGEST_LIMITS} for a throwaway stack, the file's own
   * limits otherwise, as `pnpm dev` runs them.
   */
  ingestLimits?: Readonly<Partial<Record<IngestLimiter, number>>>;
  /** wrangler's output: the terminal (`pnpm dev`) or a file. Default: a file in the stack's directory. */
  wranglerOutput?: "inherit" | "file";
  /** How long wrangler may take to be ready. Default 120 s (a cold start bundles both Workers). */
  readyTimeoutMs?: number;
}

export interface Stack {
  ingestUrl: string;
  /** Where the deliver Worker sends: the local provider's URL, or the mail API `.dev.vars` names. */
  mailApiUrl: string;
  /** The local provider, or null when deliver sends elsewhere (then it is not started). */
  providerUrl: string | null;
  provider: RunningLocalProvider | null;
  /** Every local provider started, in failover order (`provider` is the first); empty when deliver sends elsewhere. */
  providers: RunningLocalProvider[];
  /** The `TOKEN_SECRETS` ingest runs with, to sign client tokens. */
  tokenSecrets: string;
  /** The `OPS_TOKENS` deliver runs with (a JSON array or a list), for `pnpm ops --token`. */
  opsTokens: string;
  /** The wrangler configs the session runs: the repo's own, or copies with overrides beside them. */
  configs: { ingest: string; deliver: string };
  /** Where wrangler writes when its output goes to a file. */
  wranglerLog: string | null;
  /** Settles when wrangler exits, by `stop()` or on its own; with its exit code. */
  exited: Promise<number | null>;
  /** Stops wrangler (and every process it started) and the provider. Safe to call twice. */
  stop(): Promise<void>;
}

/** A stack that sends to the local provider, which it started: a throwaway one without `mailApiUrl`. */
export type LocalStack = Stack & { provider: RunningLocalProvider; providerUrl: string };

/** A failure to start, with what wrangler said if it said anything. */
export class StackError extends Error {
  override name = "StackError";
}

/**
 * The `TOKEN_SECRETS` a running local stack's ingest has (dev-vars.ts: the environment, else
 * `.dev.vars`, else the example), for scripts that sign client tokens for it; reads only.
 *
 * @example
 * parseTokenSecrets(devTokenSecretsJson());
 */
export function devTokenSecretsJson(): string {
  return readDevVars().TOKEN_SECRETS ?? DEV_TOKEN_SECRETS;
}

/**
 * A free port for wrangler, which binds it only later: picked below the ephemeral range (Linux
 * 32768–60999, macOS 49152–65535), so that no `listen(0)` meanwhile, such as wrangler's own
 * loopback server or the provider's, can be handed the same port.
 */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portIsFree(port)) return port;
  }
  throw new StackError("No free port found between 20000 and 32000.");
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * Copies the two wrangler configs into `dir`, with `main` made absolute (a config's relative paths
 * are resolved from its own directory), next to a `.dev.vars` with the secrets and the overrides.
 */
function writeStackConfigs(
  dir: string,
  vars: Record<string, string>,
  ingestLimits: Readonly<Partial<Record<IngestLimiter, number>>>,
  deliverMaxRetries: number | undefined,
): { ingest: string; deliver: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { ingest: join(dir, CONFIGS.ingest), deliver: join(dir, CONFIGS.deliver) };
  for (const name of ["ingest", "deliver"] as const) {
    const source = readFileSync(join(ROOT, CONFIGS[name]), "utf8");
    const rewritten = source.replace(/^main\s*=\s*"([^"]+)"\s*$/m, (_line, main: string) => {
      return `main = ${JSON.stringify(join(ROOT, main))}`;
    });
    if (rewritten === source) throw new StackError(`${CONFIGS[name]} has no main = "…" line to rewrite.`);
    writeFileSync(
      paths[name],
      name === "ingest"
        ? withLimits(rewritten, ingestLimits)
        : withMaxRetries(
            declareSecrets(declareProviderSettings(rewritten, vars), vars, OPTIONAL_DELIVER_SECRETS),
            deliverMaxRetries,
          ),
    );
  }
  const lines = Object.entries(vars).map(([name, value]) => devVarsLine(name, value));
  writeFileSync(join(dir, ".dev.vars"), `${lines.join("\n")}\n`, { mode: 0o600 });
  return paths;
}

/** `config` with the notes consumers' `max_retries` set (those with a dead-letter queue), if asked. */
function withMaxRetries(config: string, maxRetries: number | undefined): string {
  if (maxRetries === undefined) return config;
  const consumers = /(max_retries = )\d+(\s*(?:#[^\n]*\n\s*)*[^[]*?dead_letter_queue = )/g;
  const rewritten = config.replace(consumers, `$1${maxRetries}$2`);
  if (rewritten === config) throw new StackError(`${CONFIGS.deliver} has no consumer with max_retries to set.`);
  return rewritten;
}

/** `config` with the `simple.limit` of each named `[[ratelimits]]` binding set to its value. */
function withLimits(config: string, limits: Readonly<Partial<Record<IngestLimiter, number>>>): string {
  let rewritten = config;
  for (const [name, limit] of Object.entries(limits)) {
    const binding = new RegExp(`(\\[\\[ratelimits\\]\\]\\s*name = "${name}"[^\\[]*?simple = \\{ limit = )\\d+`);
    if (!binding.test(rewritten)) throw new StackError(`${CONFIGS.ingest} has no rate limit ${name} to set.`);
    rewritten = rewritten.replace(binding, `$1${limit}`);
  }
  return rewritten;
}

function wranglerBin(): string {
  const require = createRequire(import.meta.url);
  const manifest = require("wrangler/package.json") as { bin: { wrangler: string } };
  return join(require.resolve("wrangler/package.json"), "..", manifest.bin.wrangler);
}

function tail(file: string | null, lines = 40): string {
  if (file === null || !existsSync(file)) return "";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/** Waits for wrangler's DEV_SERVER_READY message on its IPC channel (sent when not run by vitest). */
function waitUntilReady(child: ChildProcess, timeoutMs: number, log: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new StackError(`wrangler dev was not ready after ${timeoutMs / 1000} s.\n${tail(log)}`));
    }, timeoutMs);
    const onMessage = (message: unknown) => {
      const event = typeof message === "string" ? (JSON.parse(message) as { event?: string }).event : undefined;
      if (event === "DEV_SERVER_READY") {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new StackError(`wrangler dev exited (code ${code}) before it was ready.\n${tail(log)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** Kills wrangler's whole process group (workerd, esbuild): it was started detached, as its leader. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * @example
 * const stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true });
 * await fetch(`${stack.ingestUrl}/v1/notes`, { method: "POST", body: frame, headers });
 * await stack.stop();
 */
export async function startStack(
  options: StackOptions & { ephemeral: true; mailApiUrl?: undefined },
): Promise<LocalStack>;
export async function startStack(options?: StackOptions): Promise<Stack>;
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const ingestPort = options.ingestPort === 0 ? await freePort() : (options.ingestPort ?? DEFAULT_INGEST_PORT);
  if (!(await portIsFree(ingestPort))) {
    throw new StackError(`Port ${ingestPort} is in use: is a stack already running? Pick another ingest port.`);
  }
  const ephemeral = options.ephemeral ?? false;
  // A throwaway stack runs with the shipped dev secrets, whatever the user put in .dev.vars.
  if (!ephemeral) ensureDevVars();
  const devVars: Record<string, string | undefined> = ephemeral ? exampleDevVars() : readDevVars();
  // Where deliver sends: the caller's choice, else .dev.vars (which a throwaway stack does not read).
  const providerPort = options.providerPort ?? DEFAULT_PROVIDER_PORT;
  if (options.providers !== undefined && options.mailApiUrl !== undefined) {
    throw new StackError("A stack with providers sends to them: mailApiUrl cannot be set as well.");
  }
  // A list of providers is the local ones, whatever .dev.vars names.
  const mailApiUrl =
    options.providers !== undefined
      ? undefined
      : (options.mailApiUrl ?? (ephemeral ? undefined : devVars.MAIL_API_URL));
  const elsewhere =
    mailApiUrl !== undefined && mailApiUrl !== "" && !isLocalProviderUrl(mailApiUrl, providerPort) ? mailApiUrl : null;
  if (elsewhere !== null && !isHttpUrl(elsewhere)) {
    throw new StackError(`MAIL_API_URL "${elsewhere}" is not an http(s) URL, which deliver needs.`);
  }
  const mailApiKey = devVars.MAIL_API_KEY ?? DEFAULT_API_KEY;
  const tokenSecrets = devVars.TOKEN_SECRETS ?? DEV_TOKEN_SECRETS;
  const ingestUrl = `http://127.0.0.1:${ingestPort}`;

  let planned: PlannedProvider[] | null = null;
  try {
    if (options.providers !== undefined) planned = planProviders(options.providers, providerPort, mailApiKey);
  } catch (error) {
    throw new StackError((error as Error).message);
  }
  const starts = planned ?? [{ name: undefined, port: providerPort, apiKey: mailApiKey, options: {} }];
  const providers: RunningLocalProvider[] = [];
  for (const start of elsewhere === null ? starts : []) {
    try {
      providers.push(
        await startLocalProvider({
          ...options.provider,
          ...start.options,
          ...(start.name === undefined ? {} : { name: start.name }),
          apiKeys: [start.apiKey],
          port: start.port,
          // Delivery events go to ingest, which forwards /webhooks/* to deliver; until wrangler is up
          // they are retried like any event the receiver did not take.
          ...(options.deliveryWebhooks
            ? {
                webhooks: {
                  resendUrl: `${ingestUrl}/webhooks/resend`,
                  resendSecret: devVars.RESEND_WEBHOOK_SECRET,
                  postmarkUrl: `${ingestUrl}/webhooks/postmark`,
                  postmarkCredentials: devVars.POSTMARK_WEBHOOK_CREDENTIALS,
                  ...options.provider?.webhooks,
                },
              }
            : {}),
        }),
      );
    } catch (error) {
      await Promise.all(providers.map((started) => started.close()));
      throw new StackError(`The local provider cannot listen on port ${start.port}: ${(error as Error).message}`);
    }
  }
  const provider = providers[0] ?? null;

  const deliverVars = options.deliverVars ?? {};
  const ingestVars = options.ingestVars ?? (ephemeral ? THROWAWAY_INGEST_VARS : {});
  const listVars =
    planned === null
      ? {}
      : providerVars(
          planned,
          providers.map(({ url }) => url),
        );
  const stackDir = join(ROOT, ".wrangler", "stacks", String(ingestPort));
  const target = provider?.url ?? (elsewhere as string);
  const ingestLimits = options.ingestLimits ?? (ephemeral ? THROWAWAY_INGEST_LIMITS : {});
  const usesCopies =
    ephemeral ||
    devVars.MAIL_API_URL !== target ||
    planned !== null ||
    Object.keys(deliverVars).length > 0 ||
    Object.keys(ingestVars).length > 0 ||
    Object.keys(ingestLimits).length > 0 ||
    options.deliverMaxRetries !== undefined ||
    options.opsAlertWebhookUrl !== undefined;
  let configs: { ingest: string; deliver: string } = {
    ingest: join(ROOT, CONFIGS.ingest),
    deliver: join(ROOT, CONFIGS.deliver),
  };
  if (usesCopies) {
    rmSync(stackDir, { recursive: true, force: true });
    const opsSecrets = DELIVER_HTTP_SECRETS.filter((name) => devVars[name] !== undefined).map((name) => [
      name,
      devVars[name] as string,
    ]);
    configs = writeStackConfigs(
      stackDir,
      {
        TOKEN_SECRETS: tokenSecrets,
        ENROLL_SECRETS: devVars.ENROLL_SECRETS ?? DEV_ENROLL_SECRETS,
        MAIL_API_KEY: mailApiKey,
        MAIL_API_URL: target,
        ...Object.fromEntries(opsSecrets),
        ...listVars,
        ...ingestVars,
        ...deliverVars,
        ...(options.opsAlertWebhookUrl === undefined ? {} : { OPS_ALERT_WEBHOOK_URL: options.opsAlertWebhookUrl }),
      },
      ingestLimits,
      options.deliverMaxRetries,
    );
  }
  const persistTo = ephemeral ? join(stackDir, "state") : DEFAULT_PERSIST_DIR;
  const wranglerLog = options.wranglerOutput === "inherit" ? null : join(stackDir, "wrangler.log");
  let output: "inherit" | number = "inherit";
  if (wranglerLog !== null) {
    mkdirSync(stackDir, { recursive: true });
    output = openSync(wranglerLog, "w");
  }

  const child = spawn(
    process.execPath,
    [
      wranglerBin(),
      "dev",
      "-c",
      configs.ingest,
      "-c",
      configs.deliver,
      "--ip",
      "127.0.0.1",
      "--port",
      String(ingestPort),
      "--persist-to",
      persistTo,
      "--show-interactive-dev-session=false",
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
      // Its own process group, so that stop() reaches workerd too; stdin closed: no hotkeys.
      detached: true,
      stdio: ["ignore", output, output, "ipc"],
    },
  );
  if (typeof output === "number") closeSync(output); // the child has its own copy
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // The last resort if this process ends without stop(): no workerd left behind.
  const killOnExit = () => killGroup(child, "SIGKILL");
  process.once("exit", killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        const timeout = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
        await Promise.race([exited, timeout]);
      }
      killGroup(child, "SIGKILL");
      process.off("exit", killOnExit);
      if (child.connected) child.disconnect();
      // A test of a provider outage may have closed one already (`stack.provider.close()`).
      await Promise.all(
        providers.map((started) =>
          started.close().catch((error: NodeJS.ErrnoException) => {
            if (error.code !== "ERR_SERVER_NOT_RUNNING") throw error;
          }),
        ),
      );
      if (ephemeral) rmSync(stackDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  try {
    await waitUntilReady(child, options.readyTimeoutMs ?? 120_000, wranglerLog);
    // Ready means wrangler's proxy listens; this first request waits until the Workers are loaded.
    await fetch(`${ingestUrl}/v1/notes/00000000-0000-4000-8000-000000000000`, {
      signal: AbortSignal.timeout(options.readyTimeoutMs ?? 120_000),
    });
  } catch (error) {
    const failure =
      error instanceof StackError
        ? error
        : new StackError(`wrangler dev did not answer: ${error}\n${tail(wranglerLog)}`);
    await stop();
    throw failure;
  }
  return {
    ingestUrl,
    mailApiUrl: target,
    providerUrl: provider?.url ?? null,
    provider,
    providers,
    tokenSecrets,
    opsTokens: devVars.OPS_TOKENS ?? "",
    configs,
    wranglerLog,
    exited,
    stop,
  };
}
