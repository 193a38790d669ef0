/**
 * The deliver section of what people read: its two tables, its rows of the targets table and its
 * chart (docs/images/deliver-cpu-per-invocation.svg), from bench/deliver-cpu.ts's results.
 */

import {
  BODY_BUILD_INVOCATIONS_FACTOR,
  DELIVER_GOAL_MS,
  type DeliverResults,
  FREE_PLAN_CPU_MS,
  type HttpCell,
  type QueueCell,
  REPLAY_IDS,
} from "./deliver-cpu.ts";
import { QUEUE_CONFIG_DESCRIPTIONS, QUEUE_CONFIGS } from "./deliver-targets.ts";
import type { Table, TargetVerdict } from "./report.ts";

const ms = (value: number | undefined, digits = 2) =>
  value !== undefined && Number.isFinite(value) ? value.toFixed(digits) : "n/a";
const kb = (bytes: number) => `${Math.round(bytes / 1024)} KB`;

/** "met" or "missed by 1.23 ms" against the 5 ms goal. */
function goal(value: number): string {
  return value <= DELIVER_GOAL_MS ? "met" : `missed by ${ms(value - DELIVER_GOAL_MS)}`;
}
/** "within" or "over (1.4×)" against the Free plan's 10 ms. */
function freePlan(value: number): string {
  return value <= FREE_PLAN_CPU_MS ? "within" : `over (${(value / FREE_PLAN_CPU_MS).toFixed(1)}×)`;
}
const range = (values: number[]) =>
  values.length === 0 ? "" : `${ms(Math.min(...values))}–${ms(Math.max(...values))}`;

export const cellName = (cell: QueueCell) => `${cell.size} × ${cell.count}`;

function overBareRuns(cell: QueueCell): number[] {
  return cell.rounds.flatMap((r) => (r.deliver && r.bare ? [r.deliver.cpuMs - r.bare.cpuMs] : []));
}

export function deliverQueueTable(deliver: DeliverResults): Table {
  const failures: string[] = [];
  const rows = deliver.queue.map((cell) => {
    if (cell.failure !== undefined) {
      failures.push(`${cellName(cell)} failed: ${cell.failure}`);
      return [cellName(cell), "failed", "", "", "", "", "", "", ""];
    }
    if (cell.bodyBuildFailure !== undefined) failures.push(`body build at ${cellName(cell)}: ${cell.bodyBuildFailure}`);
    const rest = cell.bodyBuildMs === undefined ? undefined : cell.overBareMs - cell.bodyBuildMs;
    return [
      cellName(cell),
      ms(cell.overBareMs),
      range(overBareRuns(cell)),
      cell.bodyBuildMs === undefined ? "n/a" : `${ms(cell.bodyBuildMs)} (rest ${ms(rest)})`,
      goal(cell.overBareMs),
      freePlan(cell.overBareMs),
      `${ms(cell.deliverMs)} / ${ms(cell.bareMs)}`,
      `${ms(cell.requestsPerInvocation)} / ${ms(cell.emailsPerInvocation, 0)}`,
      `${cell.invocations} × ${cell.rounds.length}`,
    ];
  });
  const budget = deliver.vars.BATCH_FRAME_BUDGET_BYTES;
  const deferred = deliver.queue.filter((c) => c.failure === undefined && c.emailsPerInvocation < c.count);
  return {
    title: "5. deliver: CPU per queue invocation inside workerd (ms, deliver − an ack-only consumer)",
    headers: [
      "frames × n",
      "deliver − bare",
      "runs min–max",
      "body build (rest)",
      `≤ ${DELIVER_GOAL_MS} ms goal`,
      `Free plan ${FREE_PLAN_CPU_MS} ms`,
      "deliver / bare",
      "requests / emails per inv.",
      "invocations × runs",
    ],
    rows,
    notes: [
      `deliver − bare = the median over ${deliver.load.runs} rounds of each round's difference between deliver and the ack-only consumer at the same size and count, ms of workerd process CPU per invocation (the threads' schedstat counters over the run ÷ its invocations); runs min–max are those differences.`,
      "Each configuration runs in its own workerd. A driver Worker in the same workerd builds each batch (copies of the note's frame from bench/sample-notes.ts under fresh note ids, messages shaped as Queues delivers them, v8 bodies {frame, acceptedAt}) and hands it to the consumer through a service binding's queue(): no queue broker, and one Node request per run, not per invocation.",
      "deliver's LEDGER, STATUS, NOTES_QUEUE and DEAD_LETTER_QUEUE are in-isolate stubs: a ledger that has never seen the notes (claim sends all of them in one request, settle answers each record done), a KV put that resolves at once; each ledger call and queue send structuredClones what it is given and what it answers (the RPC's serialisation, both halves). The provider is a Node process on 127.0.0.1 that reads and checks the whole body and answers Resend's permissive batch shape.",
      `body build = the median over the rounds of (body-build − bare), both on one-message batches and ${BODY_BUILD_INVOCATIONS_FACTOR}× the invocations: deliver's own sendEmails for as many emails as deliver sent per invocation (so on what its byte budget sends), with a fetch that brings the body to bytes whatever its form (a string encoded to UTF-8, as fetch does first, which flattens it; a stream read to its end; a Blob or bytes as they are) and sends nothing. rest = deliver − bare − body build: decoding the batch, the ledger and KV calls, the fetch beyond the body's bytes (socket, HTTP, the answer), the acks, and any deferral.`,
      ...(deferred.length > 0 && budget !== undefined
        ? [
            `emails < n: BATCH_FRAME_BUDGET_BYTES = ${budget} sent the rest back to the queue as new messages (${deferred.map(cellName).join(", ")}); their sendBatch is in deliver − bare.`,
          ]
        : []),
      ...QUEUE_CONFIGS.map((config) => `${config}: ${QUEUE_CONFIG_DESCRIPTIONS[config]}.`),
      `Goal: deliver's own CPU ≤ ${DELIVER_GOAL_MS} ms per invocation, half the Free plan's ${FREE_PLAN_CPU_MS} ms per invocation, which queue consumers share with every Worker.`,
      ...failures,
    ],
  };
}

function httpRow(cell: HttpCell): string[] {
  if (cell.failure !== undefined) return [cell.label, kb(cell.requestBytes), "failed", "", "", "", "", "", ""];
  return [
    cell.label,
    kb(cell.requestBytes),
    ms(cell.overBareMs),
    range(cell.rounds.map((r) => r.deliverMs - r.bareMs)),
    goal(cell.overBareMs),
    freePlan(cell.overBareMs),
    `${ms(cell.deliverMs)} / ${ms(cell.bareMs)}`,
    cell.did,
    `${cell.requests} × ${cell.rounds.length}`,
  ];
}

export function deliverHttpTable(deliver: DeliverResults): Table {
  return {
    title: "6. deliver: CPU per ops and webhook request inside workerd (ms, deliver − bare)",
    headers: [
      "request",
      "body",
      "deliver − bare",
      "runs min–max",
      `≤ ${DELIVER_GOAL_MS} ms goal`,
      `Free plan ${FREE_PLAN_CPU_MS} ms`,
      "deliver / bare",
      "one request did",
      "requests × runs",
    ],
    rows: deliver.http.map(httpRow),
    notes: [
      `deliver − bare = the median over rounds of (deliver's Worker fetch − bench/workers/bare.js, which reads the same body and answers 202), ms of workerd process CPU per request, from the load process at concurrency ${deliver.load.httpConcurrency}.`,
      `ops replay: POST /ops/dead-letters/replay with {"ids": […${REPLAY_IDS} ids]}; the stub ledger's beginReplay answers each id it is given as a dead letter holding the note's frame, finishReplay each as queued; NOTES_QUEUE.sendBatch takes every message (structuredClone). The route handles what it handles per request and answers the rest as remaining.`,
      "Resend webhook: an email.delivered event for a note, padded with custom headers (data.headers, [{name, value}]) to the most the route reads, Svix-signed with RESEND_WEBHOOK_SECRET; the stub ledger applies it, KV takes the record.",
      "console pages: a signed-in GET (the session cookie verified under each OPS_TOKENS key, the page rendered with hono/html); the stub ledger answers each at its dearest: an overview whose every minute of the day and hour of the week differs (4 series × 1,440 + 168 path steps), a page of 50 dead letters holding the 1.6 KB note's frame (each row's address decoded and masked), a note's 14-step timeline. bare answers the same GET with 202.",
      ...deliver.http.flatMap((cell) => (cell.failure === undefined ? [] : [`${cell.label} failed: ${cell.failure}`])),
    ],
  };
}

/** Issue 12's targets against this run; `deliver` null when the part did not run. */
export function judgeDeliverTargets(deliver: DeliverResults | null): TargetVerdict[] {
  const notMeasured = (target: string): TargetVerdict => ({ target, measured: "", verdict: "not measured", note: "" });
  const everyCell = `deliver ≤ ${DELIVER_GOAL_MS} ms of its own CPU per queue invocation, every cell (deliver − bare)`;
  const oneRequest = "100 notes of 1.6 KB: one invocation, one request";
  const replay = `ops replay (${REPLAY_IDS} ids) ≤ ${DELIVER_GOAL_MS} ms per request (deliver − bare)`;
  const webhook = `256 KB Resend webhook ≤ ${DELIVER_GOAL_MS} ms per request (deliver − bare)`;
  if (deliver === null) return [everyCell, oneRequest, replay, webhook].map(notMeasured);

  const verdicts: TargetVerdict[] = [];
  const measuredCells = deliver.queue.filter((c) => c.failure === undefined);
  const worst = measuredCells.reduce<QueueCell | undefined>(
    (w, c) => (w && w.overBareMs >= c.overBareMs ? w : c),
    undefined,
  );
  const overLimit = measuredCells.filter((c) => c.overBareMs > FREE_PLAN_CPU_MS);
  const allMeasured = measuredCells.length === deliver.queue.length && measuredCells.length > 0;
  const missed = measuredCells.some((c) => c.overBareMs > DELIVER_GOAL_MS);
  verdicts.push({
    target: everyCell,
    measured: deliver.queue
      .map((c) => `${cellName(c)}: ${c.failure === undefined ? `${ms(c.overBareMs)} ms` : "failed"}`)
      .join("; "),
    verdict: missed ? "missed" : allMeasured ? "met" : "not measured",
    note: [
      worst === undefined ? "" : `worst ${ms(worst.overBareMs)} ms at ${cellName(worst)}`,
      overLimit.length > 0 ? `over the Free plan's ${FREE_PLAN_CPU_MS} ms: ${overLimit.map(cellName).join(", ")}` : "",
      allMeasured ? "" : "some cells failed (see table 5)",
    ]
      .filter((part) => part !== "")
      .join("; "),
  });

  const small = deliver.queue.find((c) => c.size === "1.6 KB" && c.count === 100);
  if (small === undefined || small.failure !== undefined) verdicts.push(notMeasured(oneRequest));
  else {
    const one = small.requestsPerInvocation === 1 && small.emailsPerInvocation === 100;
    verdicts.push({
      target: oneRequest,
      measured: `${ms(small.requestsPerInvocation)} request(s) and ${ms(small.emailsPerInvocation, 0)} emails per invocation`,
      verdict: one ? "met" : "missed",
      note: one ? "" : "the batch went out in more than one request, or not all of it now",
    });
  }

  for (const [route, target] of [
    ["replay", replay],
    ["webhook", webhook],
  ] as const) {
    const cells = deliver.http.filter((c) => c.route === route);
    const measured = cells.filter((c) => c.failure === undefined);
    if (measured.length === 0) {
      verdicts.push({ ...notMeasured(target), note: cells.find((c) => c.failure)?.failure?.slice(0, 120) ?? "" });
      continue;
    }
    const over = measured.filter((c) => c.overBareMs > DELIVER_GOAL_MS);
    verdicts.push({
      target,
      measured: cells
        .map((c) => `${c.label}: ${c.failure === undefined ? `${ms(c.overBareMs)} ms` : "failed"}`)
        .join("; "),
      verdict: over.length > 0 ? "missed" : measured.length === cells.length ? "met" : "not measured",
      note: [
        route === "replay" ? `one request did: ${measured[0]?.did}` : "",
        over.length > 0
          ? `missed by ${ms(Math.max(...over.map((c) => c.overBareMs)) - DELIVER_GOAL_MS)} ms at worst`
          : "",
      ]
        .filter((part) => part !== "")
        .join("; "),
    });
  }
  return verdicts;
}

/**
 * deliver − bare per queue cell and per HTTP request, with the body build beside it, against the
 * 5 ms goal and the Free plan's 10 ms: a hand-written SVG, as bench/chart.ts draws ingest's.
 */
export function deliverChartSvg(deliver: DeliverResults): string {
  const groups = [
    ...deliver.queue.map((c) => ({
      label: cellName(c),
      failed: c.failure !== undefined,
      bars: [c.overBareMs, c.bodyBuildMs ?? Number.NaN],
    })),
    ...deliver.http.map((c) => ({
      label: c.route === "replay" ? `replay ${c.label.split(", ").pop()?.replace(" frames", "")}` : "webhook",
      failed: c.failure !== undefined,
      bars: [c.overBareMs, Number.NaN],
    })),
  ];
  const series = [
    { label: "deliver − bare", color: "#2680c2" },
    { label: "of which the body build", color: "#7cc4fa" },
  ];
  const width = 900;
  const height = 400;
  const left = 56;
  const right = 20;
  const top = 60;
  const bottom = 70;
  const plotHeight = height - top - bottom;
  const values = groups.flatMap((g) => (g.failed ? [] : g.bars.filter(Number.isFinite)));
  const max = Math.max(FREE_PLAN_CPU_MS * 1.2, ...values);
  const step = max <= 15 ? 2 : max <= 30 ? 5 : 10;
  const axisMax = Math.ceil(max / step) * step;
  const round = (value: number) => Math.round(value * 10) / 10;
  const y = (value: number) => round(top + plotHeight - (Math.max(0, value) / axisMax) * plotHeight);
  const groupWidth = (width - left - right) / Math.max(1, groups.length);
  const barWidth = round(Math.min(32, (groupWidth - 16) / series.length));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600">deliver's own CPU inside workerd (ms per queue invocation or request, over bare)</text>`,
  ];
  for (let value = 0; value <= axisMax; value += step) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value)}" y2="${y(value)}" stroke="#e4e7eb"/>`,
      `<text x="${left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#52606d">${value}</text>`,
    );
  }
  // Legend entries side by side, each as wide as its label (about 7 px per character at 12 px).
  let legendX = left;
  for (const s of series) {
    parts.push(
      `<rect x="${legendX}" y="36" width="12" height="12" fill="${s.color}"/>`,
      `<text x="${legendX + 18}" y="46">${s.label}</text>`,
    );
    legendX += 18 + s.label.length * 7 + 16;
  }
  for (const [value, label, color] of [
    [DELIVER_GOAL_MS, `goal ${DELIVER_GOAL_MS} ms`, "#f0b429"],
    [FREE_PLAN_CPU_MS, `Free plan limit ${FREE_PLAN_CPU_MS} ms`, "#d64545"],
  ] as const) {
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value)}" y2="${y(value)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<line x1="${legendX}" x2="${legendX + 22}" y1="42" y2="42" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${legendX + 28}" y="46">${label}</text>`,
    );
    legendX += 28 + label.length * 7 + 16;
  }
  // Queue invocations on the left, HTTP requests on the right of a divider.
  const divider = round(left + deliver.queue.length * groupWidth);
  if (deliver.http.length > 0) {
    parts.push(
      `<line x1="${divider}" x2="${divider}" y1="${top - 6}" y2="${y(0) + 34}" stroke="#9aa5b1"/>`,
      `<text x="${divider - 6}" y="${top + 6}" text-anchor="end" fill="#52606d" font-size="11">per queue invocation</text>`,
      `<text x="${divider + 6}" y="${top + 6}" fill="#52606d" font-size="11">per request</text>`,
    );
  }
  groups.forEach((group, g) => {
    const groupX = round(left + g * groupWidth + (groupWidth - barWidth * series.length) / 2);
    if (group.failed) {
      parts.push(
        `<text x="${round(left + g * groupWidth + groupWidth / 2)}" y="${round(y(0) - 6)}" text-anchor="middle" fill="#d64545" font-size="10">failed</text>`,
      );
    } else {
      group.bars.forEach((value, s) => {
        if (!Number.isFinite(value)) return;
        const x = round(groupX + s * barWidth);
        parts.push(
          `<rect x="${round(x + 2)}" y="${y(value)}" width="${round(barWidth - 4)}" height="${round(y(0) - y(value))}" fill="${series[s]?.color}"/>`,
          `<text x="${round(x + barWidth / 2)}" y="${round(y(value) - 4)}" text-anchor="middle" font-size="10">${value.toFixed(1)}</text>`,
        );
      });
    }
    parts.push(
      `<text x="${round(left + g * groupWidth + groupWidth / 2)}" y="${height - bottom + 18}" text-anchor="middle" font-size="11" font-weight="600">${group.label}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}" stroke="#52606d"/>`,
    `<text x="${left}" y="${height - 26}" fill="#52606d" font-size="11">Median over ${deliver.load.runs} rounds of (deliver − an ack-only consumer, or bare.js for a request) in the same round; frames × messages per invocation.</text>`,
    `<text x="${left}" y="${height - 10}" fill="#52606d" font-size="11">Ledger, KV and queues stubbed in-isolate (RPC serialisation charged); the provider a separate Node process on 127.0.0.1.</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}
