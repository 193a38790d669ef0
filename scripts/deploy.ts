/**
 * `pnpm run deploy`: from a Cloudflare account (after `wrangler login`, or with CLOUDFLARE_API_TOKEN)
 * to a working pipeline, and safe to run again. It
 *   1. creates or reuses the KV namespace both Workers share, and puts its id into generated copies
 *      of the wrangler configs (in .wrangler/notepipe-deploy/, git-ignored): no tracked file changes;
 *   2. creates every queue the two files name that the account lacks (wrangler's own provisioning
 *      covers only a Worker's first deploy: queueStates says why);
 *   3. sets only the secrets a Worker lacks (listed by name), generating the random ones and asking
 *      for the rest, through `wrangler deploy --secrets-file` with a file that lives for one deploy;
 *   4. deploys deliver, then ingest (ingest's DELIVER service binding needs deliver to exist);
 *   5. prints the ingest URL, and the ops token when it made one.
 * Secrets never go into argv, a log or a tracked file.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseEnrollSecrets, parseTokenSecrets } from "@notepipe/token";
import { Command } from "commander";
import { type Unstable_RawConfig as RawConfig, experimental_readRawConfig as readRawConfig } from "wrangler";
import { askSecret, askText, NotATerminalError } from "./deploy-prompts.ts";

const ROOT = resolve(import.meta.dirname, "..");
/** Not `.wrangler/deploy/`: a `config.json` there would redirect every wrangler command in the repo. */
const DEFAULT_STATE_DIR = join(ROOT, ".wrangler", "notepipe-deploy");

/** Deliver first: ingest's service binding `DELIVER` names it. */
const WORKERS = [
  { key: "deliver", config: "wrangler.deliver.toml" },
  { key: "ingest", config: "wrangler.ingest.toml" },
] as const;

/** Where deliver sends for each provider, and the secret its webhooks are verified with. */
const PROVIDERS = {
  // https://resend.com/docs/api-reference/introduction ("Base URL")
  resend: { apiUrl: "https://api.resend.com", webhookSecret: "RESEND_WEBHOOK_SECRET" },
  // https://postmarkapp.com/developer/api/overview ("Endpoint URL")
  postmark: { apiUrl: "https://api.postmarkapp.com", webhookSecret: "POSTMARK_WEBHOOK_CREDENTIALS" },
} as const;
type Provider = keyof typeof PROVIDERS;

class DeployError extends Error {}

const options = new Command("pnpm run deploy")
  .description(
    "Create or reuse every resource the two wrangler files name, set the secrets a Worker lacks, and deploy deliver, then ingest. " +
      "Secrets come from the environment (MAIL_API_KEY, RESEND_WEBHOOK_SECRET, POSTMARK_WEBHOOK_CREDENTIALS) or a hidden prompt, never from flags.",
  )
  .option("--provider <name>", "resend or postmark (else MAIL_PROVIDER, else the last deploy's, else asked)")
  .option(
    "--mail-from <address>",
    "sender on a domain verified at the provider (else MAIL_FROM, else the last deploy's, else asked)",
  )
  .option(
    "--rotate <names...>",
    "set these secrets anew even though they exist (a new value is generated or asked for)",
    [],
  )
  .option(
    "--state-dir <dir>",
    "where the generated configs and the last provider and sender are kept (one per account)",
    DEFAULT_STATE_DIR,
  )
  .parse()
  .opts<{ provider?: string; mailFrom?: string; rotate: string[]; stateDir: string }>();

const GENERATED_DIR = resolve(options.stateDir);
/** The provider and sender of the last deploy (no secret): a second run needs no flags. */
const SETTINGS_FILE = join(GENERATED_DIR, "settings.json");

try {
  await deploy();
} catch (error) {
  if (!(error instanceof DeployError || error instanceof NotATerminalError)) throw error;
  console.error(`deploy: ${error.message}`);
  process.exit(1);
}

async function deploy(): Promise<void> {
  const configs = Object.fromEntries(WORKERS.map(({ key, config }) => [key, readConfig(config)])) as Record<
    (typeof WORKERS)[number]["key"],
    RawConfig
  >;
  const rotate = new Set(options.rotate);
  const known = new Set(Object.values(configs).flatMap((config) => config.secrets?.required ?? []));
  for (const name of rotate)
    if (!known.has(name)) throw new DeployError(`--rotate ${name}: no Worker requires that secret.`);

  const settings = await mailSettings();
  if (settings.switchedFrom !== null && !rotate.has("MAIL_API_KEY")) {
    throw new DeployError(
      `the provider was ${settings.switchedFrom} at the last deploy; switching to ${settings.provider} needs its key: add --rotate MAIL_API_KEY.`,
    );
  }
  const workers = WORKERS.map(({ key, config }) => ({
    key,
    config: configs[key],
    name: requireName(configs[key], config),
  }));
  // The reads first and side by side: each wrangler run spends ~1.5 s of CPU starting up.
  const [namespaces, queues, existingSecrets] = await Promise.all([
    listKvNamespaces(),
    queueStates(Object.values(configs)),
    Promise.all(workers.map(({ name }) => secretNames(name))),
  ]);
  // Every answer before the first change: a missing key stops the run with nothing created.
  const secretsToSet: Record<string, string>[] = [];
  for (const [index, { config }] of workers.entries()) {
    const existing = existingSecrets[index] ?? new Set<string>();
    const secrets: Record<string, string> = {};
    for (const secret of config.secrets?.required ?? []) {
      if (!existing.has(secret) || rotate.has(secret)) secrets[secret] = await secretValue(secret, settings.provider);
    }
    secretsToSet.push(secrets);
  }

  const kvIds = await ensureKvNamespaces(Object.values(configs), namespaces);
  await ensureQueues(queues);

  let ingestUrl: string | null = null;
  for (const [index, { key, config, name }] of workers.entries()) {
    const secrets = secretsToSet[index] ?? {};
    const setting = Object.keys(secrets);
    const kept = (config.secrets?.required ?? []).filter((secret) => !(secret in secrets));
    console.log(
      `deploy: ${name}: ${setting.length === 0 ? "no secret to set" : `setting ${setting.join(", ")}`}` +
        (kept.length === 0 ? "" : `; keeping ${kept.join(", ")}`),
    );
    const generated = writeGeneratedConfig(key, config, kvIds, settings);
    const targets = await wranglerDeploy(generated, secrets);
    if (key === "ingest") ingestUrl = targets.find((target) => target.startsWith("https://")) ?? null;
  }
  const newOpsTokens = secretsToSet.find((secrets) => secrets.OPS_TOKENS !== undefined)?.OPS_TOKENS;
  const opsToken = newOpsTokens === undefined ? null : ((JSON.parse(newOpsTokens) as string[])[0] ?? null);

  mkdirSync(GENERATED_DIR, { recursive: true });
  writeFileSync(
    SETTINGS_FILE,
    `${JSON.stringify({ provider: settings.provider, mailFrom: settings.mailFrom }, null, 2)}\n`,
  );

  console.log(`\ndeploy: done.\n  ingest URL   ${ingestUrl ?? "(no workers.dev URL: ingest has a route of its own)"}`);
  if (opsToken !== null) {
    console.log(
      `  ops token    ${opsToken}\n  (shown this once: keep it in a password manager; pnpm ops reads NOTEPIPE_OPS_TOKEN and NOTEPIPE_OPS_URL)`,
    );
  }
  console.log(`  next         pnpm smoke ${ingestUrl ?? "<ingest-url>"}`);
}

function readConfig(file: string): RawConfig {
  return readRawConfig({ config: join(ROOT, file) }).rawConfig;
}

function requireName(config: RawConfig, file: string): string {
  if (typeof config.name !== "string") throw new DeployError(`${file} has no name.`);
  return config.name;
}

/**
 * Every queue either file names (produced, consumed or dead-lettered to), and whether the account
 * has it. wrangler's provisioning creates a queue a Worker produces to on that Worker's first
 * deploy, but on later deploys it inherits the binding of the deployed version and never looks
 * again, so a queue deleted since (or one only consumed) would stop `wrangler deploy` with
 * "Queue … does not exist".
 */
async function queueStates(configs: RawConfig[]): Promise<Map<string, boolean>> {
  const names = new Set<string>();
  for (const config of configs) {
    for (const producer of config.queues?.producers ?? []) if (producer.queue !== undefined) names.add(producer.queue);
    for (const consumer of config.queues?.consumers ?? []) {
      names.add(consumer.queue);
      if (consumer.dead_letter_queue !== undefined) names.add(consumer.dead_letter_queue);
    }
  }
  const states = await Promise.all(
    [...names].map(async (name): Promise<[string, boolean]> => {
      const info = await wrangler(["queues", "info", name], { capture: true, allowFailure: true });
      if (info.code === 0) return [name, true];
      // What `wrangler queues info` says when the API lists no queue of that name.
      if (info.stderr.includes(`Queue "${name}" does not exist.`)) return [name, false];
      throw new DeployError(`wrangler queues info ${name} failed:\n${info.stderr || info.stdout}`);
    }),
  );
  return new Map(states);
}

async function ensureQueues(states: Map<string, boolean>): Promise<void> {
  for (const [name, exists] of states) {
    if (exists) {
      console.log(`deploy: reusing the queue ${name}`);
    } else {
      console.log(`deploy: creating the queue ${name}`);
      await wrangler(["queues", "create", name], { capture: true });
    }
  }
}

interface MailSettings {
  provider: Provider;
  mailFrom: string;
  /** The last deploy's provider when this one is another: deliver still holds its key. */
  switchedFrom: Provider | null;
}

async function mailSettings(): Promise<MailSettings> {
  const remembered = existsSync(SETTINGS_FILE)
    ? (JSON.parse(readFileSync(SETTINGS_FILE, "utf8")) as Partial<MailSettings>)
    : {};
  const provider =
    options.provider ??
    process.env.MAIL_PROVIDER ??
    remembered.provider ??
    (await askText("Mail provider (resend or postmark)", "resend"));
  if (!(provider in PROVIDERS)) throw new DeployError(`the provider is "${provider}"; it must be resend or postmark.`);
  const mailFrom =
    options.mailFrom ??
    process.env.MAIL_FROM ??
    remembered.mailFrom ??
    (await askText("Sender (MAIL_FROM), on a domain verified at the provider, e.g. notepipe <notes@example.com>"));
  if (!mailFrom.includes("@")) throw new DeployError(`MAIL_FROM "${mailFrom}" is not an email address.`);
  const switchedFrom =
    remembered.provider !== undefined && remembered.provider !== provider ? remembered.provider : null;
  return { provider: provider as Provider, mailFrom, switchedFrom };
}

/**
 * One namespace per KV binding name, shared by every Worker that binds that name (both bind
 * STATUS), titled as the wrangler files' comment says: `notepipe-status`. wrangler's provisioning
 * would create one namespace per Worker, so the script creates it. Answers the id per binding.
 */
async function ensureKvNamespaces(
  configs: RawConfig[],
  listed: { id: string; title: string }[],
): Promise<Map<string, string>> {
  const bindings = new Set(configs.flatMap((config) => (config.kv_namespaces ?? []).map((kv) => kv.binding)));
  const ids = new Map<string, string>();
  let namespaces = listed;
  for (const binding of bindings) {
    const title = `notepipe-${binding.toLowerCase().replaceAll("_", "-")}`;
    let found = namespaces.find((namespace) => namespace.title === title);
    if (found === undefined) {
      console.log(`deploy: creating the KV namespace ${title}`);
      await wrangler(["kv", "namespace", "create", title], { capture: true });
      namespaces = await listKvNamespaces();
      found = namespaces.find((namespace) => namespace.title === title);
      if (found === undefined) throw new DeployError(`the KV namespace ${title} was created but is not listed.`);
    } else {
      console.log(`deploy: reusing the KV namespace ${title}`);
    }
    ids.set(binding, found.id);
  }
  return ids;
}

async function listKvNamespaces(): Promise<{ id: string; title: string }[]> {
  const { stdout } = await wrangler(["kv", "namespace", "list"], { capture: true });
  return JSON.parse(stdout) as { id: string; title: string }[];
}

/** The names of a Worker's secrets; none for a Worker not deployed yet. */
async function secretNames(worker: string): Promise<Set<string>> {
  const run = await wrangler(["secret", "list", "--name", worker, "--format", "json"], {
    capture: true,
    allowFailure: true,
  });
  if (run.code !== 0) {
    // What `wrangler secret list` says for the API's "Worker not found" (code 10007): a first deploy.
    if (run.stderr.includes(`Worker "${worker}" not found.`)) return new Set();
    throw new DeployError(`wrangler secret list --name ${worker} failed:\n${run.stderr || run.stdout}`);
  }
  return new Set((JSON.parse(run.stdout) as { name: string }[]).map((secret) => secret.name));
}

/** A random secret: 32 bytes, as `packages/token` asks of a kid's secret. */
function randomSecret(): string {
  return randomBytes(32).toString("base64");
}

/** `k` or `e` and today's date: a kid says when it was made, so a kid added by hand later stands apart. */
function kid(prefix: string): string {
  return `${prefix}${new Date().toISOString().slice(0, 10).replaceAll("-", "")}`;
}

async function secretValue(name: string, provider: Provider): Promise<string> {
  switch (name) {
    case "TOKEN_SECRETS": {
      const value = JSON.stringify({ [kid("k")]: randomSecret() });
      parseTokenSecrets(value);
      return value;
    }
    case "ENROLL_SECRETS": {
      const value = JSON.stringify({ [kid("e")]: randomSecret() });
      parseEnrollSecrets(value);
      return value;
    }
    case "OPS_TOKENS":
      return JSON.stringify([randomBytes(32).toString("base64url")]);
    case "MAIL_API_KEY": {
      const key = process.env.MAIL_API_KEY ?? (await askSecret(`${provider} API key (MAIL_API_KEY)`));
      if (key === undefined || key.length === 0) {
        throw new DeployError("MAIL_API_KEY is needed: set it in the environment, or run on a terminal to be asked.");
      }
      return key;
    }
    case "RESEND_WEBHOOK_SECRET":
    case "POSTMARK_WEBHOOK_CREDENTIALS": {
      const given =
        process.env[name] ?? (PROVIDERS[provider].webhookSecret === name ? await askWebhookSecret(name) : undefined);
      if (given !== undefined && given.length > 0) return given;
      // Unused, or not created at the provider yet: a random value no one knows, so deliver refuses
      // every webhook on that route until the operator sets the real one.
      return name === "RESEND_WEBHOOK_SECRET"
        ? `whsec_${randomBytes(24).toString("base64")}`
        : `${randomBytes(12).toString("hex")}:${randomBytes(32).toString("base64url")}`;
    }
    default:
      throw new DeployError(`no rule makes a value for the secret ${name}: add one to scripts/deploy.ts.`);
  }
}

async function askWebhookSecret(name: string): Promise<string | undefined> {
  return askSecret(`${name} from the provider's webhook page (empty: set it later with --rotate ${name})`);
}

/** A copy of the config with absolute `main`, the KV ids and the mail settings; nothing tracked changes. */
function writeGeneratedConfig(
  key: string,
  config: RawConfig,
  kvIds: Map<string, string>,
  settings: MailSettings,
): string {
  const vars = { ...(config.vars ?? {}) };
  if ("MAIL_PROVIDER" in vars) {
    vars.MAIL_PROVIDER = settings.provider;
    vars.MAIL_API_URL = PROVIDERS[settings.provider].apiUrl;
    vars.MAIL_FROM = settings.mailFrom;
  }
  const generated: RawConfig = {
    ...config,
    main: join(ROOT, config.main ?? ""),
    vars,
    kv_namespaces: (config.kv_namespaces ?? []).map((kv) => ({ ...kv, id: kvIds.get(kv.binding) })),
  };
  mkdirSync(GENERATED_DIR, { recursive: true });
  const path = join(GENERATED_DIR, `wrangler.${key}.json`);
  writeFileSync(path, `${JSON.stringify(generated, null, 2)}\n`);
  return path;
}

/** `wrangler deploy`, its output shown as it comes; answers the deploy's targets (its URLs first). */
async function wranglerDeploy(config: string, secrets: Record<string, string>): Promise<string[]> {
  // Lives for this one deploy, readable by this user alone, outside the repository.
  const dir = mkdtempSync(join(tmpdir(), "notepipe-deploy-"));
  try {
    const args = ["deploy", "-c", config];
    if (Object.keys(secrets).length > 0) {
      const secretsFile = join(dir, "secrets.json");
      writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
      args.push("--secrets-file", secretsFile);
    }
    const outputFile = join(dir, "output.ndjson");
    await wrangler(args, { env: { WRANGLER_OUTPUT_FILE_PATH: outputFile } });
    const events = readFileSync(outputFile, "utf8")
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { type: string; targets?: string[] });
    return events.find((event) => event.type === "deploy")?.targets ?? [];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface WranglerRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the workspace's wrangler; `capture` keeps its output for the caller instead of showing it. */
function wrangler(
  args: string[],
  run: { capture?: boolean; allowFailure?: boolean; env?: Record<string, string> } = {},
): Promise<WranglerRun> {
  const require = createRequire(import.meta.url);
  const manifest = require("wrangler/package.json") as { bin: { wrangler: string } };
  const bin = join(require.resolve("wrangler/package.json"), "..", manifest.bin.wrangler);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...run.env },
      stdio: run.capture ? ["ignore", "pipe", "pipe"] : "inherit",
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.once("error", reject);
    child.once("close", (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code !== 0 && !run.allowFailure) {
        const shown = run.capture ? `\n${stderr || stdout}` : "";
        reject(new DeployError(`wrangler ${args.slice(0, 3).join(" ")} failed (exit ${result.code}).${shown}`));
      } else {
        resolvePromise(result);
      }
    });
  });
}
