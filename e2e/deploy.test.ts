/**
 * `pnpm run deploy` with the real wrangler against a recording fake of the Cloudflare API
 * (@notepipe/fake-cloudflare-api): what it creates on an empty account, that a second run creates
 * and rotates nothing, that a deleted queue comes back alone, and where secrets may appear.
 * Offline: wrangler reaches only the fake on 127.0.0.1, with a HOME of its own.
 *
 * The tests are one account's history, in order: each deploy runs wrangler about ten times (some
 * 1.5 s of CPU each to start), so four runs share one account instead of seven on fresh ones.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type RecordedRequest,
  type RunningFakeCloudflareApi,
  type Script,
  startFakeCloudflareApi,
} from "@notepipe/fake-cloudflare-api";
import { ROOT } from "@notepipe/local-stack";
import { parseEnrollSecrets, parseTokenSecrets } from "@notepipe/token";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ACCOUNT_ID = randomBytes(16).toString("hex");
const API_TOKEN = randomBytes(24).toString("base64url");
const MAIL_API_KEY = `re_${randomBytes(18).toString("base64url")}`;
const MAIL_FROM = "notepipe <notes@example.com>";
/** One deploy runs wrangler about ten times; a hung one fails the test instead of the suite. */
const RUN_TIMEOUT_MS = 120_000;

let api: RunningFakeCloudflareApi;
let scratch: string;
/** Every run's output, less the one line that shows a new ops token on purpose. */
const outputs: string[] = [];

beforeAll(async () => {
  api = await startFakeCloudflareApi({ apiToken: API_TOKEN, accountId: ACCOUNT_ID, subdomain: "ada" });
  scratch = mkdtempSync(join(tmpdir(), "notepipe-deploy-test-"));
});

afterAll(async () => {
  await api?.close();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

interface DeployRun {
  code: number | null;
  /** stdout and stderr, the script's and wrangler's, as an operator would see them. */
  output: string;
  /** The requests this run made. */
  requests: RecordedRequest[];
}

function runDeploy(
  args: string[] = ["--provider", "resend", "--mail-from", MAIL_FROM],
  secrets: Record<string, string> = { MAIL_API_KEY },
): Promise<DeployRun> {
  const first = api.requests.length;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, "scripts/deploy.ts"), ...args, "--state-dir", join(scratch, "state")],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env.PATH,
          // No real login state is read or written, and nothing leaves this machine.
          HOME: join(scratch, "home"),
          XDG_CONFIG_HOME: join(scratch, "home", ".config"),
          WRANGLER_SEND_METRICS: "false",
          CLOUDFLARE_API_BASE_URL: api.baseUrl,
          CLOUDFLARE_API_TOKEN: API_TOKEN,
          CLOUDFLARE_ACCOUNT_ID: ACCOUNT_ID,
          ...secrets,
        },
      },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, requests: api.requests.slice(first) });
    });
  });
}

function script(name: string): Script {
  const found = api.state.scripts.get(name);
  if (found === undefined) throw new Error(`${name} was not deployed`);
  return found;
}

/** What creates an account resource (not a Worker version): queues and KV namespaces. */
function creations(requests: RecordedRequest[]): string[] {
  return requests
    .filter((request) => request.method === "POST" && /\/(queues|storage\/kv\/namespaces)$/.test(request.url))
    .map((request) => `${request.url.replace(/.*\/accounts\/[0-9a-f]+/, "")} ${request.body}`);
}

/** Uploads of a Worker's code and bindings, in order: `PUT …/scripts/:name` or `POST …/:name/versions`. */
function uploads(requests: RecordedRequest[]): string[] {
  return requests.flatMap((request) => {
    const match = /\/workers\/scripts\/([^/?]+)(\/versions)?\?/.exec(request.url);
    const isUpload = match !== null && (request.method === "PUT" ? match[2] === undefined : match[2] !== undefined);
    return isUpload && match ? [match[1] as string] : [];
  });
}

function allSecrets(): Map<string, string> {
  const secrets = new Map<string, string>();
  for (const worker of api.state.scripts.values()) {
    for (const [name, value] of worker.secrets) secrets.set(`${worker.name}.${name}`, value);
  }
  return secrets;
}

/** Whether `text` holds `secret` as it is or escaped inside a JSON string (an upload's metadata). */
function holds(text: string, secret: string): boolean {
  return text.includes(secret) || text.includes(JSON.stringify(secret).slice(1, -1));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile());
}

describe("pnpm run deploy", () => {
  it("without the provider's API key, off a terminal, stops before it creates anything", async () => {
    const run = await runDeploy(undefined, {});
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      "deploy: MAIL_API_KEY is needed: set it in the environment, or run on a terminal to be asked.\n",
    );
    expect(run.requests.filter((request) => request.method !== "GET")).toEqual([]);
  });

  it("on an empty account creates every resource the wrangler files name, and deploys deliver, then ingest", async () => {
    const run = await runDeploy();
    expect(run.code, run.output).toBe(0);
    outputs.push(run.output.replace(/ops token {4}\S+\n/, ""));

    const namespaces = [...api.state.kvNamespaces.values()];
    expect(namespaces.map((namespace) => namespace.title)).toEqual(["notepipe-status"]);
    expect([...api.state.queues.values()].map((queue) => queue.queue_name).sort()).toEqual([
      "codes",
      "notes",
      "notes-dlq",
      "notes-large",
    ]);
    expect(uploads(run.requests)).toEqual(["notepipe-deliver", "notepipe-ingest"]);

    const deliver = script("notepipe-deliver");
    const ingest = script("notepipe-ingest");
    // One status namespace, bound by both Workers.
    for (const worker of [deliver, ingest]) {
      expect(worker.bindings.find((binding) => binding.name === "STATUS")).toMatchObject({
        type: "kv_namespace",
        namespace_id: namespaces[0]?.id,
      });
    }
    expect([...deliver.secrets.keys()].sort()).toEqual([
      "MAIL_API_KEY",
      "OPS_TOKENS",
      "POSTMARK_WEBHOOK_CREDENTIALS",
      "RESEND_WEBHOOK_SECRET",
    ]);
    expect(deliver.secrets.get("MAIL_API_KEY")).toBe(MAIL_API_KEY);
    expect(deliver.secrets.get("RESEND_WEBHOOK_SECRET")).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(deliver.secrets.get("POSTMARK_WEBHOOK_CREDENTIALS")).toMatch(/^[0-9a-f]{24}:[\w-]{43}$/);
    expect([...ingest.secrets.keys()].sort()).toEqual(["ENROLL_SECRETS", "TOKEN_SECRETS"]);
    expect(parseTokenSecrets(ingest.secrets.get("TOKEN_SECRETS") ?? "").size).toBe(1);
    expect(parseEnrollSecrets(ingest.secrets.get("ENROLL_SECRETS") ?? "").size).toBe(1);
    expect(deliver.vars.get("MAIL_FROM")).toBe(MAIL_FROM);
    expect(deliver.vars.get("MAIL_API_URL")).toBe("https://api.resend.com");

    expect([deliver.migrationTag, ingest.migrationTag]).toEqual(["v1", "v2"]);
    expect([...deliver.durableObjectClasses]).toEqual(["DeliveryLedger"]);
    expect([...ingest.durableObjectClasses]).toEqual(["EnrollmentGuard", "CodeEmailBudget"]);
    expect(deliver.crons).toEqual(["*/5 * * * *"]);
    for (const queue of api.state.queues.values()) {
      expect(queue.consumers.map((consumer) => consumer.script)).toEqual(["notepipe-deliver"]);
    }
    expect([deliver.subdomain.enabled, ingest.subdomain.enabled]).toEqual([false, true]);

    const opsToken = (JSON.parse(deliver.secrets.get("OPS_TOKENS") ?? "[]") as string[])[0];
    expect(opsToken).toMatch(/^[\w-]{43}$/);
    expect(run.output).toContain("ingest URL   https://notepipe-ingest.ada.workers.dev\n");
    expect(run.output).toContain(`ops token    ${opsToken}\n`);
  });

  it("run again, creates nothing and rotates no secret", async () => {
    const secretsBefore = allSecrets();

    const second = await runDeploy([]);
    expect(second.code, second.output).toBe(0);
    outputs.push(second.output);
    expect(creations(second.requests)).toEqual([]);
    expect(uploads(second.requests)).toEqual(["notepipe-deliver", "notepipe-ingest"]);
    expect(allSecrets()).toEqual(secretsBefore);
    for (const value of secretsBefore.values()) {
      expect(second.requests.filter((request) => holds(request.body, value))).toEqual([]);
    }
    expect(second.output).not.toContain("ops token");
    // The provider and sender of the first run, remembered without a flag.
    expect(script("notepipe-deliver").vars.get("MAIL_FROM")).toBe(MAIL_FROM);
  });

  it("with the notes-large queue deleted, creates that queue alone", async () => {
    const large = [...api.state.queues.values()].find((queue) => queue.queue_name === "notes-large");
    const deleted = await api.app.request(`/client/v4/accounts/${ACCOUNT_ID}/queues/${large?.queue_id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${API_TOKEN}` },
    });
    expect(deleted.status).toBe(200);

    const run = await runDeploy([]);
    expect(run.code, run.output).toBe(0);
    outputs.push(run.output);
    expect(creations(run.requests)).toEqual(['/queues {"queue_name":"notes-large"}']);
    const recreated = [...api.state.queues.values()].find((queue) => queue.queue_name === "notes-large");
    expect(recreated?.consumers.map((consumer) => consumer.script)).toEqual(["notepipe-deliver"]);
  });

  it("--rotate OPS_TOKENS sets that secret alone, and shows the new token once", async () => {
    const before = allSecrets();
    const run = await runDeploy(["--rotate", "OPS_TOKENS"]);
    expect(run.code, run.output).toBe(0);
    const after = allSecrets();
    const rotated = after.get("notepipe-deliver.OPS_TOKENS") ?? "";
    expect(rotated).not.toBe(before.get("notepipe-deliver.OPS_TOKENS"));
    expect(new Map([...after].filter(([name]) => name !== "notepipe-deliver.OPS_TOKENS"))).toEqual(
      new Map([...before].filter(([name]) => name !== "notepipe-deliver.OPS_TOKENS")),
    );
    expect(run.output).toContain(`ops token    ${(JSON.parse(rotated) as string[])[0]}\n`);
    outputs.push(run.output.replace(/ops token {4}\S+\n/, ""));
  });

  it("refuses to switch provider without the new provider's key, before any request", async () => {
    const run = await runDeploy(["--provider", "postmark"]);
    expect(run.code).toBe(1);
    expect(run.output).toBe(
      "deploy: the provider was resend at the last deploy; switching to postmark needs its key: add --rotate MAIL_API_KEY.\n",
    );
    expect(run.requests).toEqual([]);
  });

  it("shows a secret to the API only in the upload that sets it, and never in the output or a file", () => {
    const secrets = allSecrets();
    expect(secrets.size).toBe(6);
    for (const [name, value] of secrets) {
      const holders = api.requests.filter((request) => holds(request.body, value));
      expect(holders.length, name).toBeGreaterThan(0);
      for (const holder of holders) {
        expect(uploads([holder]), `${name} in ${holder.method} ${holder.url}`).toHaveLength(1);
        expect(holder.body).toContain('"type":"secret_text"');
      }
      for (const output of outputs) expect(holds(output, value), `${name} in the output`).toBe(false);
      for (const file of filesUnder(scratch)) {
        expect(holds(readFileSync(file, "utf8"), value), `${name} in ${file}`).toBe(false);
      }
    }
    // Set in deliver's first upload, and not sent again by the runs that set nothing or another secret.
    expect(api.requests.filter((request) => request.body.includes(MAIL_API_KEY))).toHaveLength(1);
  });
});
