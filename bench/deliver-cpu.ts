/**
 * deliver's own CPU inside workerd: per queue invocation, and per ops replay and webhook request.
 *
 * Queue invocations: each configuration of bench/deliver-targets.ts runs in its own workerd. Per
 * run, one request to its batch driver makes `invocations` batches of `count` messages and hands
 * them to the consumer one after the other (bench/workers/deliver/batch-driver.ts); the workerd
 * process's CPU (the threads' schedstat counters, bench/workerd-process.ts) before and after, over
 * the invocations, is the figure. Every round runs, per cell and one right after the other: the
 * body build and the ack-only consumer on one-message batches, then the ack-only consumer and
 * deliver on the cell's batches. What is reported is the median over the rounds of each round's
 * difference to its ack-only run (paired: the machine's drift between rounds cancels).
 *
 * HTTP requests: the same, with the load process (bench/load.ts) sending the requests to deliver's
 * Worker and, paired, the same bodies to bench/workers/bare.js.
 */

import { createHmac, randomUUID } from "node:crypto";
import { SMALL_FRAME_MAX_BYTES } from "@notepipe/pipeline";
import {
  BENCH_OPS_TOKEN,
  BENCH_SECRETS,
  bundleDeliverWorkers,
  type DeliverTarget,
  deliverSettings,
  type HttpConfig,
  type QueueConfig,
  startHttpTarget,
  startQueueTarget,
} from "./deliver-targets.ts";
import { type LoadJob, LoadProcess } from "./load.ts";
import { ProviderStandIn, type ProviderStats, statsBetween } from "./provider-stand-in.ts";
import { RECIPIENT, type SampleNote } from "./sample-notes.ts";
import { median } from "./stats.ts";
import { cpuMsBetween, readCpu, waitUntilIdle } from "./workerd-process.ts";
import type { DriverAnswer } from "./workers/deliver/batch-driver.ts";

export interface DeliverLoad {
  /** Measured rounds; the medians are reported. One warm-up round comes first. */
  runs: number;
  /** About how long one deliver run lasts, in ms of wall time, by the fixed model of {@link invocationsPerRun}. */
  runMs: number;
  /** The same for the warm-up round. */
  warmupRunMs: number;
  /** Requests per HTTP run, per route. */
  replayRequests: number;
  webhookRequests: number;
  httpConcurrency: number;
}

/** Messages per invocation: a small batch and the largest (max_batch_size in wrangler.deliver.toml). */
export const BATCH_COUNTS = [10, 100] as const;

/**
 * The queue a frame of this size is on (SMALL_FRAME_MAX_BYTES) and its max_batch_size in
 * wrangler.deliver.toml: no legal batch of larger frames holds more than 8, so their cells are
 * capped there (100 such notes arrive as 13 invocations of at most 8).
 */
export function queueOf(frameBytes: number): { queue: string; maxBatch: number } {
  return frameBytes > SMALL_FRAME_MAX_BYTES ? { queue: "notes-large", maxBatch: 8 } : { queue: "notes", maxBatch: 100 };
}

/** The ops replay asks for this many dead letters per request (issue 12); the route takes what it takes. */
export const REPLAY_IDS = 300;
/** The webhook's body: the most the route reads before it checks the signature (MAX_WEBHOOK_BYTES). */
export const WEBHOOK_BYTES = 256 * 1024;
/** The goal for deliver's own CPU per invocation or request: half the Free plan's limit. */
export const DELIVER_GOAL_MS = 5;
/** The Free plan's CPU limit per invocation, queue consumers included (https://developers.cloudflare.com/queues/platform/limits/). */
export const FREE_PLAN_CPU_MS = 10;

/**
 * Invocations per run. A fixed model of one deliver invocation's wall time on this machine (a few
 * ms, plus per message, plus per MB of frames) turns `runMs` into a count, so that a cell runs the
 * same number of invocations every time whatever deliver's code costs now; at least 8.
 */
export function invocationsPerRun(runMs: number, frameBytes: number, count: number): number {
  const modelMs = 4 + 0.1 * count + (4 * count * frameBytes) / 1e6;
  return Math.max(8, Math.round(runMs / modelMs));
}

/** One configuration's run: workerd CPU and wall time per invocation, and what reached the provider. */
export interface QueueConfigRun {
  cpuMs: number;
  wallMs: number;
  /** Per invocation, from the provider stand-in's counters (deliver only). */
  requests?: number;
  emails?: number;
}

/** One round of a cell: its runs, each paired with the ack-only run beside it. */
export interface QueueRound {
  /** The ack-only consumer on the cell's batches. */
  bare?: QueueConfigRun;
  deliver?: QueueConfigRun;
  /**
   * The body-build consumer, and the ack-only consumer beside it, on one-message batches: the build
   * does not read the batch, and at 100 × 64 KB the batch's handover alone costs ~10 ms per
   * invocation, whose noise would bury a build of 1 ms.
   */
  bodyBuild?: QueueConfigRun;
  bodyBuildFloor?: QueueConfigRun;
}

/** Body-build runs are cheap: this many times the cell's invocations, for the same precision. */
export const BODY_BUILD_INVOCATIONS_FACTOR = 4;

export interface QueueCell {
  size: string;
  frameBytes: number;
  count: number;
  invocations: number;
  rounds: QueueRound[];
  /** Medians over the rounds, ms per invocation. */
  bareMs: number;
  deliverMs: number;
  /** Median over the rounds of (deliver − bare): deliver's own CPU per invocation. */
  overBareMs: number;
  /** Median over the rounds of (body-build − its ack-only floor), when the body build ran. */
  bodyBuildMs?: number;
  /** Emails in each body the body build built: what deliver sent per invocation in the warm-up. */
  bodyBuildEmails?: number;
  /** Invocations per body-build run (one-message batches). */
  bodyBuildInvocations: number;
  requestsPerInvocation: number;
  emailsPerInvocation: number;
  /** Why deliver could not be measured at this cell: no figures then. */
  failure?: string;
  /** Why the body build could not be measured (its cell figures are then missing). */
  bodyBuildFailure?: string;
}

export type HttpRoute = "replay" | "webhook" | "console";

export interface HttpCell {
  route: HttpRoute;
  /** How tables name it: "ops replay, 1.6 KB frames". */
  label: string;
  /** The request body's bytes. */
  requestBytes: number;
  requests: number;
  /** Per round, ms per request. */
  rounds: { deliverMs: number; bareMs: number }[];
  deliverMs: number;
  bareMs: number;
  /** Median over the rounds of (deliver − bare). */
  overBareMs: number;
  /** What one request did, from its answer: "200 replayed, 100 remaining". */
  did: string;
  failure?: string;
}

export interface DeliverResults {
  load: DeliverLoad;
  /** The vars of wrangler.deliver.toml the consumers ran with (MAIL_API_URL aside): its byte budget, say. */
  vars: Record<string, string>;
  /** workerd's pid per configuration, for the record. */
  pids: Partial<Record<QueueConfig | HttpConfig, number>>;
  queue: QueueCell[];
  http: HttpCell[];
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function measureQueueRun(
  target: DeliverTarget<QueueConfig>,
  stand: ProviderStandIn,
  frame: Uint8Array,
  count: number,
  invocations: number,
): Promise<QueueConfigRun> {
  // No wait for quiet before: every run ends with one, and between runs a target only answers the
  // bench's small setup requests (microseconds of work, done before they answer).
  const statsBefore = await stand.stats();
  const before = readCpu(target.pid);
  const started = performance.now();
  const queue = queueOf(frame.length).queue;
  const response = await fetch(`${target.url}/run?count=${count}&invocations=${invocations}&queue=${queue}`, {
    method: "POST",
    body: frame as Uint8Array<ArrayBuffer>,
  });
  const text = await response.text();
  const wallMs = (performance.now() - started) / invocations;
  await waitUntilIdle(target.pid, 0);
  const after = readCpu(target.pid);
  const upstream: ProviderStats = statsBetween(statsBefore, await stand.stats());
  const logged = target.logs.length > 0 ? ` (Workers logged: ${target.logs.join(" | ")})` : "";
  if (response.status !== 200)
    throw new Error(`${target.config}: the driver answered ${response.status} ${text.slice(0, 300)}${logged}`);
  const answer = JSON.parse(text) as DriverAnswer;
  if (answer.problem !== undefined) throw new Error(`${target.config}: ${answer.problem}${logged}`);
  if (upstream.refused > 0) {
    throw new Error(
      `${target.config}: the provider stand-in refused ${upstream.refused} request(s): ${upstream.firstRefusal}`,
    );
  }
  if (target.config === "deliver" && upstream.emails === 0) {
    throw new Error(`deliver sent no email in ${invocations} invocation(s)${logged}`);
  }
  return {
    cpuMs: cpuMsBetween(before, after) / invocations,
    wallMs,
    ...(target.config === "deliver"
      ? { requests: upstream.requests / invocations, emails: upstream.emails / invocations }
      : {}),
  };
}

/** The Svix headers Resend signs a webhook with, for `body` at `nowMs`. */
export function svixHeaders(body: string, nowMs: number): Record<string, string> {
  const id = `msg_bench_${randomUUID()}`;
  const timestamp = String(Math.floor(nowMs / 1000));
  const key = Buffer.from(BENCH_SECRETS.RESEND_WEBHOOK_SECRET.slice("whsec_".length), "base64");
  const signature = createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64");
  return { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": `v1,${signature}` };
}

/**
 * A Resend `email.delivered` event for a note notepipe sent, padded to `bytes` with custom headers
 * (`data.headers`, the send API's `[{name, value}]`): the largest body the route reads, in the
 * shape its schema validates entry by entry.
 */
export function resendWebhookBody(bytes: number): string {
  const at = new Date().toISOString();
  const event = {
    type: "email.delivered",
    created_at: at,
    data: {
      created_at: at,
      email_id: randomUUID(),
      from: "notepipe <notes@notepipe.dev>",
      to: [RECIPIENT],
      subject: "Encrypted Note",
      tags: { note_id: randomUUID() },
      headers: [] as { name: string; value: string }[],
    },
  };
  const headers = event.data.headers;
  const value = "x".repeat(64);
  while (JSON.stringify(event).length < bytes - 200) headers.push({ name: `X-Bench-Pad-${headers.length}`, value });
  const short = bytes - JSON.stringify(event).length;
  // The last entry takes up what is left, so that the body is `bytes` long exactly.
  const last = headers[headers.length - 1] as { value: string };
  last.value += "x".repeat(short);
  return JSON.stringify(event);
}

interface HttpJob {
  cell: Omit<HttpCell, "rounds" | "deliverMs" | "bareMs" | "overBareMs" | "did">;
  /** A fresh job (a webhook's signature holds the time), for the Worker and for bare. */
  job: (url: string, bare: boolean) => LoadJob;
  /** Before each deliver run: e.g. the dead letters' frame. */
  prepare?: (target: DeliverTarget<HttpConfig>) => Promise<void>;
  /** What one request did, from its answer's text; throws if not what the route should answer. */
  check: (answer: string) => string;
}

/** The frame every dead letter of the stub ledger holds, for the runs that follow. */
async function setDeadLetterFrame(target: DeliverTarget<HttpConfig>, frame: Uint8Array): Promise<void> {
  const response = await fetch(`${target.url}/_bench/dead-letter-frame`, {
    method: "PUT",
    body: frame as Uint8Array<ArrayBuffer>,
  });
  if (response.status !== 204) throw new Error(`setting the dead letters' frame answered ${response.status}`);
}

function replayJob(note: SampleNote, requests: number, concurrency: number): HttpJob {
  const ids = Array.from({ length: REPLAY_IDS }, () => randomUUID());
  const body = new TextEncoder().encode(JSON.stringify({ ids }));
  return {
    cell: {
      route: "replay",
      label: `ops replay, ${REPLAY_IDS} ids, ${note.size.label} frames`,
      requestBytes: body.length,
      requests,
    },
    job: (url, bare) => ({
      url: bare ? `${url}/` : `${url}/ops/dead-letters/replay`,
      bodies: [body],
      headers: { authorization: `Bearer ${BENCH_OPS_TOKEN}`, "content-type": "application/json" },
      requests,
      concurrency,
      expectStatus: bare ? 202 : 200,
    }),
    prepare: (target) => setDeadLetterFrame(target, note.frame),
    check(text) {
      const answer: unknown = JSON.parse(text);
      const { replayed, failed, remaining } = answer as { replayed?: number; failed?: number; remaining?: string[] };
      if (typeof replayed !== "number" || replayed === 0 || failed !== 0) {
        throw new Error(`the replay answered ${JSON.stringify(answer).slice(0, 300)}`);
      }
      return `${replayed} replayed${remaining === undefined ? "" : `, ${remaining.length} remaining`}`;
    },
  };
}

function webhookJob(requests: number, concurrency: number): HttpJob {
  const body = resendWebhookBody(WEBHOOK_BYTES);
  const bytes = new TextEncoder().encode(body);
  return {
    cell: { route: "webhook", label: "Resend webhook, 256 KB, Svix-signed", requestBytes: bytes.length, requests },
    job: (url, bare) => ({
      url: bare ? `${url}/` : `${url}/webhooks/resend`,
      bodies: [bytes],
      headers: { "content-type": "application/json", ...svixHeaders(body, Date.now()) },
      requests,
      concurrency,
      expectStatus: bare ? 202 : 200,
    }),
    check(text) {
      const answer: unknown = JSON.parse(text);
      const { outcome } = answer as { outcome?: string };
      if (outcome !== "applied") throw new Error(`the webhook answered ${JSON.stringify(answer).slice(0, 300)}`);
      return "1 event applied";
    },
  };
}

/** The ops console's pages (workers/deliver/src/console), each as a signed-in operator's GET. */
export const CONSOLE_PAGES = [
  { label: "console: overview", path: "/ops/", shows: 'data-total="accepted"' },
  { label: "console: dead letters", path: "/ops/console/dead-letters", shows: "Replay ticked" },
  {
    label: "console: a note's page",
    path: "/ops/console/notes/3b241101-e2bb-4255-8caf-4136c566a962",
    shows: "delivered (provider webhook)",
  },
] as const;

/** Signs in through the console's form, as a browser does; answers the session cookie. */
async function consoleSession(url: string): Promise<string> {
  const response = await fetch(`${url}/ops/console/sign-in`, {
    method: "POST",
    headers: { origin: new URL(url).origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: BENCH_OPS_TOKEN }).toString(),
    redirect: "manual",
  });
  const cookie = response.headers.get("set-cookie")?.split(";")[0];
  if (response.status !== 303 || cookie === undefined) throw new Error(`sign-in answered ${response.status}`);
  return cookie;
}

function consoleJob(
  page: (typeof CONSOLE_PAGES)[number],
  note: SampleNote,
  requests: number,
  concurrency: number,
): HttpJob {
  const session = { cookie: "" };
  return {
    cell: { route: "console", label: page.label, requestBytes: 0, requests },
    job: (url, bare) => ({
      url: bare ? `${url}/` : `${url}${page.path}`,
      method: "GET",
      bodies: [],
      headers: bare ? ({} as Record<string, string>) : { cookie: session.cookie },
      requests,
      concurrency,
      expectStatus: bare ? 202 : 200,
    }),
    async prepare(target) {
      // The dead letters' frame: each row's address is read from it and masked.
      await setDeadLetterFrame(target, note.frame);
      session.cookie = await consoleSession(target.url);
    },
    check(text) {
      if (!text.includes(page.shows)) throw new Error(`the page lacks ${page.shows}: ${text.slice(0, 300)}`);
      return `${(new TextEncoder().encode(text).length / 1024).toFixed(0)} KiB of HTML`;
    },
  };
}

async function measureHttpRun(target: DeliverTarget<HttpConfig>, loader: LoadProcess, job: LoadJob): Promise<number> {
  // As for queue runs: the wait for quiet after each run is the wait before the next.
  const before = readCpu(target.pid);
  const result = await loader.run(job);
  await waitUntilIdle(target.pid, 0);
  const after = readCpu(target.pid);
  if (result.unexpected !== undefined) {
    const logged = target.logs.length > 0 ? ` (Worker logged: ${target.logs.join(" | ")})` : "";
    throw new Error(`${target.config}: expected ${job.expectStatus}, got ${result.unexpected}${logged}`);
  }
  return cpuMsBetween(before, after) / job.requests;
}

/** One request outside the measured runs, to see that the route does what it should. */
async function probe(target: DeliverTarget<HttpConfig>, job: LoadJob, check: HttpJob["check"]): Promise<string> {
  const response = await fetch(job.url, {
    method: job.method ?? "POST",
    headers: job.headers,
    body: job.method === "GET" ? null : (job.bodies[0] as Uint8Array<ArrayBuffer>),
  });
  const text = await response.text();
  if (response.status !== job.expectStatus) {
    const logged = target.logs.length > 0 ? ` (Worker logged: ${target.logs.join(" | ")})` : "";
    throw new Error(`${response.status} ${text.slice(0, 300)}${logged}`);
  }
  return check(text);
}

const pairedMedian = (pairs: [number, number][]) => median(pairs.map(([a, b]) => a - b));

export async function measureDeliver(
  repoRoot: string,
  scratch: string,
  notes: readonly SampleNote[],
  load: DeliverLoad,
  progress: (message: string) => void,
): Promise<DeliverResults> {
  progress("deliver: bundling its consumers and HTTP app with esbuild");
  const bundles = await bundleDeliverWorkers(repoRoot, scratch);
  const stand = new ProviderStandIn();
  const loader = new LoadProcess();
  const queueTargets = new Map<QueueConfig, DeliverTarget<QueueConfig>>();
  const httpTargets = new Map<HttpConfig, DeliverTarget<HttpConfig>>();
  const startFailures = new Map<string, string>();
  try {
    const setup = { repoRoot, bundles, providerUrl: await stand.url };
    // One at a time: each start spawns workerd and compiles, and the two cores are shared.
    for (const config of ["bare", "deliver", "body-build"] as const) {
      try {
        queueTargets.set(config, await startQueueTarget(setup, config));
      } catch (error) {
        startFailures.set(config, message(error));
      }
    }
    for (const config of ["bare-http", "deliver-http"] as const) {
      try {
        httpTargets.set(config, await startHttpTarget(setup, config));
      } catch (error) {
        startFailures.set(config, message(error));
      }
    }

    // --- queue invocations ---
    interface CellState {
      cell: Omit<QueueCell, "bareMs" | "deliverMs" | "overBareMs" | "requestsPerInvocation" | "emailsPerInvocation">;
      note: SampleNote;
    }
    const cells: CellState[] = notes.flatMap((note) =>
      [...new Set(BATCH_COUNTS.map((count) => Math.min(count, queueOf(note.frame.length).maxBatch)))].map((count) => ({
        note,
        cell: {
          size: note.size.label,
          frameBytes: note.frame.length,
          count,
          invocations: invocationsPerRun(load.runMs, note.frame.length, count),
          bodyBuildInvocations: BODY_BUILD_INVOCATIONS_FACTOR * invocationsPerRun(load.runMs, note.frame.length, count),
          rounds: [],
        },
      })),
    );
    const failIfAbsent = (config: QueueConfig) =>
      queueTargets.get(config) ??
      (() => {
        throw new Error(startFailures.get(config) ?? `${config} did not start`);
      })();
    for (let round = 0; round <= load.runs; round++) {
      const warmup = round === 0;
      for (const { note, cell } of cells) {
        if (cell.failure !== undefined) continue;
        const name = `${cell.size} × ${cell.count}`;
        progress(`deliver: ${warmup ? "warm-up" : `run ${round}/${load.runs}`} ${name}`);
        const invocations = warmup
          ? invocationsPerRun(load.warmupRunMs, cell.frameBytes, cell.count)
          : cell.invocations;
        const measured: QueueRound = {};
        const run = (config: QueueConfig, count = cell.count, times = invocations) =>
          measureQueueRun(failIfAbsent(config), stand, note.frame, count, times);
        // The body build needs deliver's emails per invocation, from the warm-up; after it, it runs
        // first, so that bare sits between the two runs paired with it.
        const bodyBuild = async () => {
          if (cell.bodyBuildFailure !== undefined) return;
          try {
            const body = failIfAbsent("body-build");
            const set = await fetch(`${body.url}/body?emails=${cell.bodyBuildEmails}`, {
              method: "PUT",
              body: note.frame as Uint8Array<ArrayBuffer>,
            });
            if (set.status !== 204) throw new Error(`PUT /body answered ${set.status} ${await set.text()}`);
            const times = BODY_BUILD_INVOCATIONS_FACTOR * invocations;
            measured.bodyBuild = await run("body-build", 1, times);
            measured.bodyBuildFloor = await run("bare", 1, times);
          } catch (error) {
            cell.bodyBuildFailure = message(error);
            progress(`  the body build at ${name} fails: ${cell.bodyBuildFailure}`);
          }
        };
        try {
          if (!warmup) await bodyBuild();
          measured.bare = await run("bare");
          measured.deliver = await run("deliver");
        } catch (error) {
          cell.failure = message(error);
          progress(`  deliver at ${name} fails: ${cell.failure}`);
          continue;
        }
        if (warmup) {
          // As many emails per body as deliver sent per invocation: a byte budget may send part of the batch.
          cell.bodyBuildEmails = Math.round(measured.deliver.emails ?? cell.count);
          await bodyBuild();
        }
        if (!warmup) cell.rounds.push(measured);
      }
    }
    const queue: QueueCell[] = cells.map(({ cell }) => {
      const runs = (run: keyof QueueRound) => cell.rounds.map((r) => r[run]).filter((r) => r !== undefined);
      const paired = (run: keyof QueueRound, floor: keyof QueueRound) =>
        cell.rounds.flatMap((r): [number, number][] => {
          const a = r[run];
          const b = r[floor];
          return a !== undefined && b !== undefined ? [[a.cpuMs, b.cpuMs]] : [];
        });
      const bodyPairs = paired("bodyBuild", "bodyBuildFloor");
      return {
        ...cell,
        bareMs: median(runs("bare").map((r) => r.cpuMs)),
        deliverMs: median(runs("deliver").map((r) => r.cpuMs)),
        overBareMs: pairedMedian(paired("deliver", "bare")),
        ...(bodyPairs.length > 0 && cell.bodyBuildFailure === undefined
          ? { bodyBuildMs: pairedMedian(bodyPairs) }
          : {}),
        requestsPerInvocation: median(runs("deliver").map((r) => r.requests ?? Number.NaN)),
        emailsPerInvocation: median(runs("deliver").map((r) => r.emails ?? Number.NaN)),
      };
    });

    // --- HTTP requests ---
    // Dead letters of the smallest and of the largest note.
    const replayNotes = [...new Set([notes[0], notes.at(-1)])].filter((note) => note !== undefined);
    const jobs: HttpJob[] = [
      ...replayNotes.map((note) => replayJob(note, load.replayRequests, load.httpConcurrency)),
      webhookJob(load.webhookRequests, load.httpConcurrency),
      ...CONSOLE_PAGES.map((page) =>
        consoleJob(page, notes[0] as SampleNote, load.webhookRequests, load.httpConcurrency),
      ),
    ];
    const http: HttpCell[] = [];
    const deliverHttp = httpTargets.get("deliver-http");
    const bareHttp = httpTargets.get("bare-http");
    for (const job of jobs) {
      const cell: HttpCell = {
        ...job.cell,
        rounds: [],
        deliverMs: Number.NaN,
        bareMs: Number.NaN,
        overBareMs: Number.NaN,
        did: "",
      };
      http.push(cell);
      try {
        if (deliverHttp === undefined || bareHttp === undefined) {
          throw new Error(startFailures.get("deliver-http") ?? startFailures.get("bare-http") ?? "not started");
        }
        for (let round = 0; round <= load.runs; round++) {
          progress(`deliver: ${round === 0 ? "warm-up" : `run ${round}/${load.runs}`} ${cell.label}`);
          await job.prepare?.(deliverHttp);
          if (round === 0) cell.did = await probe(deliverHttp, job.job(deliverHttp.url, false), job.check);
          const warm = (jobOf: LoadJob) =>
            round === 0 ? { ...jobOf, requests: Math.max(4, Math.round(jobOf.requests / 2)) } : jobOf;
          const bareMs = await measureHttpRun(bareHttp, loader, warm(job.job(bareHttp.url, true)));
          const deliverMs = await measureHttpRun(deliverHttp, loader, warm(job.job(deliverHttp.url, false)));
          if (round > 0) cell.rounds.push({ deliverMs, bareMs });
        }
        cell.deliverMs = median(cell.rounds.map((r) => r.deliverMs));
        cell.bareMs = median(cell.rounds.map((r) => r.bareMs));
        cell.overBareMs = pairedMedian(cell.rounds.map((r) => [r.deliverMs, r.bareMs]));
      } catch (error) {
        cell.failure = message(error);
        progress(`  ${cell.label} fails: ${cell.failure}`);
      }
    }

    const pids = Object.fromEntries(
      [...queueTargets.values(), ...httpTargets.values()].map((target) => [target.config, target.pid]),
    );
    const vars = Object.fromEntries(
      Object.entries(deliverSettings(repoRoot).vars)
        .filter(([name]) => name !== "MAIL_API_URL")
        .map(([name, value]) => [name, String(value)]),
    );
    return { load, vars, pids, queue, http };
  } finally {
    loader.stop();
    stand.stop();
    for (const target of [...queueTargets.values(), ...httpTargets.values()]) await target.miniflare.dispose();
  }
}
