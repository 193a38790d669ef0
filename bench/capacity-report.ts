/**
 * The capacity part's tables (bench/capacity.ts): what a note costs in billable operations, and
 * how many notes a day each plan then allows, with the limit that binds first.
 */

import {
  type CapacityResults,
  CLIENT_POLLS_PER_NOTE,
  OPERATION_LABELS,
  type Operation,
  PLAN_LIMITS,
  paidCostPerMillionNotes,
  perNote,
  planCapacity,
  type ScenarioCount,
} from "./capacity.ts";
import type { Table, TargetVerdict } from "./report.ts";

const figure = (value: number) =>
  Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(value < 0.1 ? 3 : 2);
const notesADay = (value: number) => (Number.isFinite(value) ? Math.max(0, value).toLocaleString("en-US") : "no limit");

function find(results: CapacityResults, scenario: ScenarioCount["scenario"]): ScenarioCount | undefined {
  return results.scenarios.find((count) => count.scenario === scenario && count.finished > 0);
}

export function capacityOpsTable(results: CapacityResults): Table {
  const counted = results.scenarios.filter((count) => count.finished > 0);
  const costs = counted.map((count) => perNote(count, results.noteBytes));
  const operations = Object.keys(OPERATION_LABELS) as Operation[];
  return {
    title: "7. Billable operations per note (counted on the local stack)",
    headers: ["operation", ...counted.map((count) => `${count.scenario} (${count.finished} notes)`)],
    rows: [
      ...operations.map((op) => [OPERATION_LABELS[op], ...costs.map((cost) => figure(cost[op]))]),
      ["consumer invocations", ...counted.map((count) => figure(count.consumerInvocations / count.finished))],
      ["provider requests", ...counted.map((count) => figure(count.upstreamRequests / count.finished))],
    ],
    notes: [
      `${results.noteBytes}-byte notes. burst: ${results.load.burstNotes} notes posted at once; trickle: ${results.load.trickleNotes} notes one at a time, each sent before the next (every note its own invocation and request, the dearest case); webhooks on: the local provider posts a delivered event for every email.`,
      "Counted, not estimated: the delivery ledger's own tally of its requests, SQLite rows and the KV writes reported to it (GET /ops/stats usage), the provider's request and webhook counts, and the bench's own posts.",
      `The client's share is modelled, not measured: ${CLIENT_POLLS_PER_NOTE} status polls per note (the outbox polls a note in flight every 10 s), each a Worker request and a KV read. KV deletes and lists: none (no code path makes them).`,
      "Worker requests count each webhook twice (ingest, and deliver behind the service binding, which Cloudflare does not bill) and each consumer invocation once. Queue operations: one write, one read per delivery, one delete, per 64 KB.",
      ...results.scenarios.flatMap((count) =>
        count.failure === undefined ? [] : [`${count.scenario}: ${count.failure}.`],
      ),
    ],
  };
}

export function capacityPlanTable(results: CapacityResults): Table {
  const burst = find(results, "burst");
  const trickle = find(results, "trickle");
  const on = find(results, "burst, webhooks on");
  const cost = (count: ScenarioCount) => perNote(count, results.noteBytes);
  const traffic: [string, Record<Operation, number>][] = [];
  if (trickle !== undefined) traffic.push(["webhooks off, quiet (trickle)", cost(trickle)]);
  if (burst !== undefined) traffic.push(["webhooks off, busy (burst)", cost(burst)]);
  if (trickle !== undefined && burst !== undefined && on !== undefined) {
    // What the webhooks add, from the burst runs with and without them, on top of the trickle.
    const added = cost(trickle);
    for (const op of Object.keys(added) as Operation[]) added[op] += Math.max(0, cost(on)[op] - cost(burst)[op]);
    traffic.push(["webhooks on, quiet (trickle + webhooks)", added]);
  }
  if (on !== undefined) traffic.push(["webhooks on, busy (burst)", cost(on)]);
  const rows: string[][] = [];
  for (const plan of Object.keys(PLAN_LIMITS) as (keyof typeof PLAN_LIMITS)[]) {
    for (const [label, perNoteCost] of traffic) {
      const capacity = planCapacity(plan, perNoteCost);
      const [first, second] = capacity.limits;
      rows.push([
        plan === "free" ? "Free" : "Paid (inclusions)",
        label,
        notesADay(capacity.notesPerDay),
        first === undefined ? "" : OPERATION_LABELS[first.operation],
        second === undefined ? "" : `${OPERATION_LABELS[second.operation]} (${notesADay(second.notesPerDay)})`,
        plan === "paid" ? `$${paidCostPerMillionNotes(perNoteCost).toFixed(2)}` : "",
      ]);
    }
  }
  return {
    title: "8. Notes a day each plan allows (1.6 KB notes)",
    headers: ["plan", "traffic", "notes a day", "binds first", "then", "past inclusions, per million notes"],
    rows,
    notes: [
      "Free: the daily limits (Workers 100,000 requests; KV 100,000 reads, 1,000 writes; Queues 10,000 operations; Durable Objects 100,000 requests, 100,000 rows written, 5M rows read). Paid ($5/month): its monthly inclusions / 30, after which every operation is billed, so a paid day has no ceiling, only the price in the last column (CPU time not included).",
      "The Cron repair's fixed 288 runs a day (each a Worker invocation and 2 ledger requests) are taken off the limits first.",
      "On the Free plan KV's 1,000 writes a day bind first: one write per note (its sent record); a delivery webhook adds a second (delivered).",
    ],
  };
}

/** Issue 12's bar for the Free plan: 1,000 notes a day of 1.6 KB, webhooks off, even when quiet. */
export function judgeCapacityTarget(results: CapacityResults | null): TargetVerdict {
  const target = "Free plan: ≥ 1,000 notes a day of 1.6 KB, webhooks off (≤ 1 KV write per note)";
  const counts = results?.scenarios.filter((count) => count.scenario !== "burst, webhooks on" && count.finished > 0);
  if (results == null || counts === undefined || counts.length === 0) {
    return { target, measured: "", verdict: "not measured", note: "" };
  }
  const worst = counts
    .map((count) => ({ count, capacity: planCapacity("free", perNote(count, results.noteBytes)) }))
    .sort((a, b) => a.capacity.notesPerDay - b.capacity.notesPerDay)[0] as {
    count: ScenarioCount;
    capacity: ReturnType<typeof planCapacity>;
  };
  const kvWrites = perNote(worst.count, results.noteBytes).kvWrites;
  return {
    target,
    measured: `${notesADay(worst.capacity.notesPerDay)} notes a day (${worst.count.scenario}; ${figure(kvWrites)} KV writes per note)`,
    verdict: worst.capacity.notesPerDay >= 1_000 && kvWrites <= 1 ? "met" : "missed",
    note: `binds first: ${OPERATION_LABELS[worst.capacity.limits[0]?.operation ?? "kvWrites"]}`,
  };
}
