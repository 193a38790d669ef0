/**
 * The real deliver Worker for the CLI's tests: the bundle `wrangler deploy` would upload, in a
 * Miniflare of its own with wrangler.deliver.toml's bindings (the delivery ledger Durable Object,
 * both queues and their consumers, the STATUS namespace) and a test OPS_TOKENS. Its
 * MAIL_API_URL is a Resend stand-in in this process, the only thing mocked (the boundary, as in
 * deliver's own tests). Dead letters get there as in production: notes put on the `notes` queue,
 * which deliver's consumer sends and files.
 *
 * Beside it, two more Workers of the same bundle and the same ledger, for the failures a script
 * must tell apart: one whose NOTES_QUEUE refuses every send, one with no OPS_TOKENS.
 */

import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { serve } from "@hono/node-server";
import { encodeFrame, noteIdToUuid } from "@notepipe/frame";
import type { NoteMessage, OpsStats } from "@notepipe/pipeline";
import { Hono } from "hono";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type V4WorkerOptionsShape } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const OPS_TOKEN = "ops-cli-test-token-0123456789";
/** Every wait on the Worker ends by then: a batch is consumed within a second or two. */
const WAIT_MS = 20_000;

/** What the Resend stand-in answers for an email to this address: see {@link startResend}. */
export const REJECTED = (i: number) => `bounce+${i}@example.com`;
export const POSSIBLY_SENT = (i: number) => `unsure+${i}@example.com`;

let bundled: Promise<string> | undefined;

/** deliver's bundle exactly as `wrangler deploy` would upload it, built once per test process. */
function bundleDeliver(): Promise<string> {
  bundled ??= (async () => {
    const outdir = mkdtempSync(join(tmpdir(), "ops-cli-deliver-"));
    const manifest = createRequire(import.meta.url).resolve("wrangler/package.json");
    const wrangler = join(manifest, "..", "bin", "wrangler.js");
    const args = [wrangler, "deploy", "--dry-run", "--outdir", outdir, "-c", "wrangler.deliver.toml"];
    // Telemetry would try the network.
    await run(process.execPath, args, { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
    return join(outdir, "index.js");
  })();
  return bundled;
}

/**
 * Resend's `POST /emails/batch` (permissive validation). The first time it sees a note it answers
 * by address: `bounce+…@` is refused (a `rejected` dead letter), `unsure+…@` comes back without an
 * id (`possibly_sent`: the provider may have sent it), any other address is sent. A note it saw
 * before is sent, as after an operator fixed the cause and replayed it.
 */
async function startResend(): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Hono();
  const seen = new Set<string>();
  let sent = 0;
  app.post("/emails/batch", async (c) => {
    const emails = (await c.req.json()) as { to: string[]; headers: Record<string, string> }[];
    const errors: { index: number; message: string }[] = [];
    const data: { id?: string }[] = [];
    emails.forEach((email, index) => {
      const to = email.to[0] ?? "";
      const noteId = email.headers["X-Notepipe-Note-Id"] ?? "";
      const first = !seen.has(noteId);
      seen.add(noteId);
      if (first && to.startsWith("bounce+")) errors.push({ index, message: "Invalid `to` field." });
      else data.push(first && to.startsWith("unsure+") ? {} : { id: `re_${++sent}` });
    });
    return c.json({ data, errors });
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A Queues producer whose every send fails, as when Queues is down: what a replay then reports. */
const QUEUES_DOWN = `
import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  async send() { throw new Error("Queue send failed: 503 Service Unavailable"); }
  async sendBatch() { throw new Error("Queue sendBatch failed: 503 Service Unavailable"); }
}`;

export interface DeliverWorker {
  /** The ops API (deliver's own address, as ingest forwards /ops/* to it). */
  url: string;
  /** The Resend stand-in: something that answers, but not the ops API. */
  providerUrl: string;
  /** The same Worker and ledger, with a NOTES_QUEUE that refuses every send. */
  queuesDownUrl: string;
  /** The same Worker without OPS_TOKENS: every ops request is 503 `not_configured`. */
  unconfiguredUrl: string;
  /**
   * Puts a note for each address on the `notes` queue and waits until deliver has filed the
   * dead letters that makes (see {@link REJECTED}, {@link POSSIBLY_SENT}); answers the note ids.
   */
  fileDeadLetters(recipients: string[]): Promise<string[]>;
  /** Waits until the ledger counts `count` notes as sent (a replay's notes, once deliver sent them). */
  sentCount(count: number): Promise<void>;
  /** What deliver's STATUS namespace holds under `key` (what ingest would read). */
  statusValue(key: string): Promise<string | null>;
  close(): Promise<void>;
}

export async function startDeliverWorker(): Promise<DeliverWorker> {
  const [scriptPath, resend] = await Promise.all([bundleDeliver(), startResend()]);
  const logLevel = process.env.WRANGLER_LOG;
  // wrangler warns that the config's required secrets are missing: they are given below.
  process.env.WRANGLER_LOG = "error";
  const options = unstable_getMiniflareWorkerOptions(join(ROOT, "wrangler.deliver.toml"))
    .workerOptions as V4WorkerOptionsShape;
  // What the Worker binds and how it runs; wrangler's module rules and paths are for its own bundler.
  const config = {
    compatibilityDate: options.compatibilityDate,
    compatibilityFlags: options.compatibilityFlags,
    bindings: options.bindings,
    kvNamespaces: options.kvNamespaces,
    queueProducers: options.queueProducers,
    queueConsumers: options.queueConsumers,
    durableObjects: options.durableObjects,
  };
  if (logLevel === undefined) delete process.env.WRANGLER_LOG;
  else process.env.WRANGLER_LOG = logLevel;

  const secrets = {
    MAIL_API_KEY: "re_ops_cli_test",
    OPS_TOKENS: JSON.stringify([OPS_TOKEN]),
    RESEND_WEBHOOK_SECRET: `whsec_${Buffer.from("ops-cli-test-svix-key-24").toString("base64")}`,
    POSTMARK_WEBHOOK_CREDENTIALS: "ops-cli-test:webhook-password-0123456789",
  };
  const bindings = { ...(config.bindings as Record<string, unknown>), ...secrets, MAIL_API_URL: resend.url };
  const module = { modules: true, scriptPath, modulesRoot: join(scriptPath, "..") };
  const direct = { unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }] };
  // The other two share the first one's ledger and KV, and consume no queue (only one Worker may).
  const sameLedger = {
    ...config,
    ...module,
    ...direct,
    queueConsumers: {},
    durableObjects: { LEDGER: { className: "DeliveryLedger", scriptName: "deliver", useSQLite: true } },
  };
  const queueConsumers = Object.fromEntries(
    // The tests wait for each batch; the consumer's code is the same whatever the batch window.
    Object.entries(config.queueConsumers as Record<string, object>).map(([queue, consumer]) => [
      queue,
      { ...consumer, maxBatchTimeout: 0 },
    ]),
  );
  const { NOTES_QUEUE: _down, ...otherProducers } = config.queueProducers as Record<string, unknown>;
  const miniflare = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      log: new Log(LogLevel.NONE),
      workers: [
        { ...config, ...module, ...direct, name: "deliver", bindings, queueConsumers },
        {
          ...sameLedger,
          name: "deliver-queues-down",
          bindings,
          queueProducers: otherProducers,
          serviceBindings: { NOTES_QUEUE: "queues-down" },
        },
        {
          ...sameLedger,
          name: "deliver-unconfigured",
          bindings: { ...bindings, OPS_TOKENS: "" },
        },
        { name: "queues-down", modules: true, script: QUEUES_DOWN, compatibilityDate: config.compatibilityDate },
      ],
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  try {
    await miniflare.ready;
  } catch (error) {
    await resend.close();
    throw error;
  }
  const urlOf = async (name: string) => (await miniflare.unsafeGetDirectURL(name)).href.replace(/\/$/, "");
  const [url, queuesDownUrl, unconfiguredUrl] = await Promise.all([
    urlOf("deliver"),
    urlOf("deliver-queues-down"),
    urlOf("deliver-unconfigured"),
  ]);
  const notes = await miniflare.getQueueProducer<NoteMessage>("NOTES_QUEUE", "deliver");

  const stats = async (): Promise<OpsStats> =>
    (
      await fetch(`${url}/ops/stats`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } })
    ).json() as Promise<OpsStats>;
  /** Asks `ready` until it holds: every wait on the Worker is bounded by {@link WAIT_MS}. */
  const until = async (what: string, ready: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + WAIT_MS;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`deliver: ${what} did not happen within ${WAIT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  return {
    url,
    providerUrl: resend.url,
    queuesDownUrl,
    unconfiguredUrl,
    async fileDeadLetters(recipients) {
      const before = (await stats()).deadLetters.total;
      const ids: string[] = [];
      const messages = recipients.map((recipient) => {
        const noteId = crypto.getRandomValues(new Uint8Array(16));
        ids.push(noteIdToUuid(noteId));
        const frame = encodeFrame({
          noteId,
          recipient,
          nonce: crypto.getRandomValues(new Uint8Array(12)),
          ciphertext: crypto.getRandomValues(new Uint8Array(48)),
        });
        return { body: { frame, acceptedAt: Date.now() } satisfies NoteMessage, contentType: "v8" as const };
      });
      for (let start = 0; start < messages.length; start += 100) {
        await notes.sendBatch(messages.slice(start, start + 100));
      }
      await until(`filing ${recipients.length} dead letter(s)`, async () => {
        return (await stats()).deadLetters.total >= before + recipients.length;
      });
      return ids;
    },
    sentCount: (count) => until(`sending ${count} note(s)`, async () => ((await stats()).states.sent ?? 0) >= count),
    statusValue: async (key) => (await miniflare.getKVNamespace("STATUS", "deliver")).get(key),
    async close() {
      await miniflare.dispose();
      await resend.close();
    },
  };
}
