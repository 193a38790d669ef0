/**
 * What a note costs in billable operations, counted on the real local stack, and how many notes a
 * day each Cloudflare plan's limits then allow. Three runs of 1.6 KB notes:
 *
 * - **burst**: notes posted at once, so that deliver takes them in full batches (the busy case);
 * - **trickle**: one note at a time, each waiting for its `sent` before the next, so that every
 *   note is a queue invocation, a ledger claim and a provider request of its own (the quiet case,
 *   and the dearest per note);
 * - **burst with webhooks**: the local provider posts a `delivered` event for every email.
 *
 * The counts come from the system itself, read before and after each run: the delivery ledger's
 * own tally of its Durable Object requests, SQLite rows and the KV writes reported to it (GET
 * /ops/stats, `usage`), the local provider's count of upstream requests and webhook posts, and the
 * bench's own count of what it posted and polled. Nothing here is a timing.
 */

import { firstOpsToken, type LocalStack, startStack } from "@notepipe/local-stack";
import type { LedgerUsage, OpsStats } from "@notepipe/pipeline";
import { type PollCount, type ProviderStats, pollUntilSent, postAll, providerStats, UNTIL_SENT } from "./pipeline.ts";
import { NOTE_SIZES, type SampleNote, sampleNote, withNoteId } from "./sample-notes.ts";

export interface CapacityLoad {
  burstNotes: number;
  trickleNotes: number;
  /** Each run gives up after this long. */
  timeoutMs: number;
}

export type Scenario = "burst" | "trickle" | "burst, webhooks on";

/** What one run cost, in totals (per note: divide by `notes`). */
export interface ScenarioCount {
  scenario: Scenario;
  notes: number;
  /** Notes that reached the state the run waited for (sent, or delivered with webhooks). */
  finished: number;
  /** Queue invocations of the `notes` consumer: the ledger's `claim` calls. */
  consumerInvocations: number;
  /** The ledger's requests by method, the bench's own readings left out. */
  ledgerRequests: Record<string, number>;
  rowsRead: number;
  rowsWritten: number;
  kvWrites: number;
  /** Queue deliveries that reached the ledger (reads of a message). */
  queueReads: number;
  /** Requests the provider received to its send endpoints. */
  upstreamRequests: number;
  /** Webhook posts the provider made to ingest (each one a request to ingest and to deliver). */
  webhookPosts: number;
  failure?: string;
}

export interface CapacityResults {
  load: CapacityLoad;
  noteBytes: number;
  scenarios: ScenarioCount[];
}

/**
 * The limits each plan puts on a day, from Cloudflare's pricing and limits pages (Workers, KV,
 * Queues, Durable Objects with SQLite storage). Paid: the monthly inclusions of the $5 plan / 30;
 * past them it bills per operation (`paidRatePerMillion`), so a paid day has no hard ceiling.
 */
export const PLAN_LIMITS = {
  free: {
    workerRequests: 100_000,
    kvReads: 100_000,
    kvWrites: 1_000,
    queueOps: 10_000,
    doRequests: 100_000,
    doRowsWritten: 100_000,
    doRowsRead: 5_000_000,
  },
  paid: {
    workerRequests: 10_000_000 / 30,
    kvReads: 10_000_000 / 30,
    kvWrites: 1_000_000 / 30,
    queueOps: 1_000_000 / 30,
    doRequests: 1_000_000 / 30,
    doRowsWritten: 50_000_000 / 30,
    doRowsRead: 25_000_000_000 / 30,
  },
} as const;

export type Operation = keyof (typeof PLAN_LIMITS)["free"];

/** USD per million past the Paid plan's inclusions. */
export const PAID_RATE_PER_MILLION: Record<Operation, number> = {
  workerRequests: 0.3,
  kvReads: 0.5,
  kvWrites: 5,
  queueOps: 0.4,
  doRequests: 0.15,
  doRowsWritten: 1,
  doRowsRead: 0.001,
};

export const OPERATION_LABELS: Record<Operation, string> = {
  workerRequests: "Worker requests",
  kvReads: "KV reads",
  kvWrites: "KV writes",
  queueOps: "Queue operations",
  doRequests: "Durable Object requests",
  doRowsWritten: "DO rows written",
  doRowsRead: "DO rows read",
};

/**
 * The client's share, which no run here can measure for a real phone: the outbox polls a note in
 * flight every 10 s until its final state, one request and one KV read per poll (a phone polls its
 * own few notes, so a request rarely covers more than one). Two polls per note: the first usually
 * sees the final state, a second when KV has not shown it yet (up to 60 s elsewhere).
 */
export const CLIENT_POLLS_PER_NOTE = 2;

/**
 * The Cron Trigger's fixed cost a day: 288 runs (every 5 minutes), each one `behind` and one
 * `prune` ledger request (workers/deliver/src/status/repair.ts); it writes to KV only what KV refused.
 */
export const CRON_LEDGER_REQUESTS_PER_DAY = 288 * 2;
const CRON_RUNS_PER_DAY = 288;

/** A queue operation per 64 KB of message, for each write, read and delete. */
const QUEUE_OP_BYTES = 64 * 1024;

/** Calls the bench makes itself to read the counters; not the pipeline's. */
const READING_METHODS = new Set(["stats", "usage"]);

async function readUsage(stack: LocalStack): Promise<LedgerUsage> {
  const token = firstOpsToken(stack.opsTokens);
  const response = await fetch(`${stack.ingestUrl}/ops/stats`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET /ops/stats answered ${response.status} ${await response.text()}`);
  return ((await response.json()) as OpsStats).usage;
}

function difference(before: LedgerUsage, after: LedgerUsage) {
  const requests: Record<string, number> = {};
  for (const [method, n] of Object.entries(after.requests)) {
    if (READING_METHODS.has(method)) continue;
    const delta = n - (before.requests[method] ?? 0);
    if (delta > 0) requests[method] = delta;
  }
  return {
    requests,
    rowsRead: after.rowsRead - before.rowsRead,
    rowsWritten: after.rowsWritten - before.rowsWritten,
    kvWrites: after.kvWrites - before.kvWrites,
    claimedNotes: after.claimedNotes - before.claimedNotes,
  };
}

/** Every post the provider made: answered, retried or given up. */
const webhookPostsOf = ({ webhooks }: ProviderStats) =>
  webhooks === null ? 0 : webhooks.delivered + webhooks.retried + webhooks.abandoned;

async function countRun(
  stack: LocalStack,
  scenario: Scenario,
  notes: { body: Uint8Array; authorization: string }[],
  load: CapacityLoad,
  oneAtATime: boolean,
): Promise<ScenarioCount> {
  const pending = scenario === "burst, webhooks on" ? new Set([...UNTIL_SENT, "sent"]) : UNTIL_SENT;
  const polls: PollCount = { requests: 0, ids: 0 };
  const providerBefore = await providerStats(stack.providerUrl);
  const before = await readUsage(stack);
  const deadline = Date.now() + load.timeoutMs;
  const poll = { pollIntervalMs: 200, stallMs: 30_000 };
  let finished = 0;
  const groups = oneAtATime ? notes.map((note) => [note]) : [notes];
  for (const group of groups) {
    if (Date.now() > deadline) break;
    const { ids } = await postAll(stack.ingestUrl, group, 32);
    const settled = await pollUntilSent(stack.ingestUrl, ids, poll, deadline, pending, polls);
    for (const status of settled.values()) if (!pending.has(status.state)) finished++;
  }
  const after = await readUsage(stack);
  const providerAfter = await providerStats(stack.providerUrl);
  const used = difference(before, after);
  return {
    scenario,
    notes: notes.length,
    finished,
    consumerInvocations: used.requests.claim ?? 0,
    ledgerRequests: used.requests,
    rowsRead: used.rowsRead,
    rowsWritten: used.rowsWritten,
    kvWrites: used.kvWrites,
    queueReads: used.claimedNotes,
    upstreamRequests: providerAfter.requests - providerBefore.requests,
    webhookPosts: webhookPostsOf(providerAfter) - webhookPostsOf(providerBefore),
    ...(finished < notes.length
      ? { failure: `${notes.length - finished} of ${notes.length} notes did not finish` }
      : {}),
  };
}

export async function measureCapacity(
  load: CapacityLoad,
  progress: (message: string) => void,
): Promise<CapacityResults> {
  const size = NOTE_SIZES[0] ?? { label: "1.6 KB", frameBytes: 1_600 };
  const scenarios: ScenarioCount[] = [];
  for (const webhooks of [false, true]) {
    progress(`capacity: starting the local stack (delivery webhooks ${webhooks ? "on" : "off"})`);
    let stack: LocalStack;
    try {
      stack = await startStack({
        ingestPort: 0,
        providerPort: 0,
        ephemeral: true,
        deliveryWebhooks: webhooks,
        // The ledger's own tally of what it is billed for, read below through GET /ops/stats.
        deliverVars: { LEDGER_METERING: "on" },
      });
    } catch (error) {
      const failure = `The local stack did not start: ${error instanceof Error ? error.message : error}`;
      scenarios.push(emptyCount(webhooks ? "burst, webhooks on" : "burst", failure));
      continue;
    }
    try {
      // One recipient per 50 notes keeps every token under ingest's 60 notes a minute.
      const templates: SampleNote[] = [];
      for (let r = 0; r < Math.ceil(load.burstNotes / 50); r++) {
        templates.push(await sampleNote(size, 9_000 + r, `capacity.${r}@example.com`, stack.tokenSecrets));
      }
      const make = (count: number, offset: number) =>
        Array.from({ length: count }, (_, i) => {
          const template = templates[i % templates.length] as SampleNote;
          return { body: withNoteId(template.frame, offset + i), authorization: template.authorization };
        });
      if (webhooks) {
        progress(`capacity: ${load.burstNotes} notes at once, each until delivered`);
        scenarios.push(await countRun(stack, "burst, webhooks on", make(load.burstNotes, 0), load, false));
      } else {
        progress(`capacity: ${load.burstNotes} notes at once`);
        scenarios.push(await countRun(stack, "burst", make(load.burstNotes, 0), load, false));
        progress(`capacity: ${load.trickleNotes} notes one at a time`);
        scenarios.push(await countRun(stack, "trickle", make(load.trickleNotes, load.burstNotes), load, true));
      }
    } catch (error) {
      scenarios.push(
        emptyCount(webhooks ? "burst, webhooks on" : "burst", error instanceof Error ? error.message : String(error)),
      );
    } finally {
      await stack.stop();
    }
  }
  return { load, noteBytes: size.frameBytes, scenarios };
}

function emptyCount(scenario: Scenario, failure: string): ScenarioCount {
  return {
    scenario,
    notes: 0,
    finished: 0,
    consumerInvocations: 0,
    ledgerRequests: {},
    rowsRead: 0,
    rowsWritten: 0,
    kvWrites: 0,
    queueReads: 0,
    upstreamRequests: 0,
    webhookPosts: 0,
    failure,
  };
}

/**
 * Billable operations per note of a run, the client's polls and the ingest POST included.
 *
 * - Worker requests: the POST, the client's polls, each consumer invocation, and each webhook
 *   twice (ingest, then deliver behind the service binding: counted, though Cloudflare bills only
 *   requests from the Internet).
 * - Queue operations: the message's write, each delivery's read, its delete at the ack.
 */
export function perNote(count: ScenarioCount, noteBytes: number): Record<Operation, number> {
  const n = Math.max(1, count.finished);
  const chunks = Math.ceil(noteBytes / QUEUE_OP_BYTES);
  const ledgerRequests = Object.values(count.ledgerRequests).reduce((sum, k) => sum + k, 0);
  return {
    workerRequests: 1 + CLIENT_POLLS_PER_NOTE + (count.consumerInvocations + 2 * count.webhookPosts) / n,
    kvReads: CLIENT_POLLS_PER_NOTE,
    kvWrites: count.kvWrites / n,
    queueOps: chunks * (2 + count.queueReads / n),
    doRequests: ledgerRequests / n,
    doRowsWritten: count.rowsWritten / n,
    doRowsRead: count.rowsRead / n,
  };
}

/** Fixed costs a day whatever the traffic: the Cron repair. */
export const FIXED_PER_DAY: Partial<Record<Operation, number>> = {
  workerRequests: CRON_RUNS_PER_DAY,
  doRequests: CRON_LEDGER_REQUESTS_PER_DAY,
};

export interface PlanCapacity {
  notesPerDay: number;
  /** The limits in the order they bind, with the notes a day each allows. */
  limits: { operation: Operation; notesPerDay: number }[];
}

export function planCapacity(plan: keyof typeof PLAN_LIMITS, cost: Record<Operation, number>): PlanCapacity {
  const limits = (Object.keys(cost) as Operation[])
    .filter((operation) => cost[operation] > 0)
    .map((operation) => ({
      operation,
      notesPerDay: Math.floor((PLAN_LIMITS[plan][operation] - (FIXED_PER_DAY[operation] ?? 0)) / cost[operation]),
    }))
    .sort((a, b) => a.notesPerDay - b.notesPerDay);
  return { notesPerDay: limits[0]?.notesPerDay ?? Number.POSITIVE_INFINITY, limits };
}

/** USD per million notes past the Paid plan's inclusions (CPU time not counted). */
export function paidCostPerMillionNotes(cost: Record<Operation, number>): number {
  return (Object.keys(cost) as Operation[]).reduce((sum, op) => sum + cost[op] * PAID_RATE_PER_MILLION[op], 0);
}
