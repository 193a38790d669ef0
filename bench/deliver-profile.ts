/**
 * Where deliver's CPU per queue invocation goes: a V8 CPU profile of the consumer's isolate while the
 * batch driver hands it batches, as in the measured runs (bench/deliver-cpu.ts) but in a workerd of
 * its own with the inspector on and an unminified bundle, so that line ticks name source lines. Not
 * part of `pnpm bench`: a tool for finding the next thing to fix.
 *
 *   node bench/deliver-profile.ts --cell "1.6 KB x 100" --cell "64 KB x 10" [--config bare] [--invocations 200]
 *   node bench/deliver-profile.ts --http webhook --http "replay 64 KB" [--invocations 100]
 *
 * `--http` profiles deliver's HTTP side the same way: the 256 KB Svix-signed webhook or the ops
 * replay of bench/deliver-cpu.ts, sent one at a time.
 */

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { REPLAY_IDS, resendWebhookBody, svixHeaders, WEBHOOK_BYTES } from "./deliver-cpu.ts";
import {
  BENCH_OPS_TOKEN,
  bundleDeliverWorkers,
  type DeliverTargetSetup,
  type QueueConfig,
  startHttpTarget,
  startQueueTarget,
} from "./deliver-targets.ts";
import { type ProfileSummary, profileIsolate, summarizeProfile } from "./profile.ts";
import { ProviderStandIn } from "./provider-stand-in.ts";
import { type SampleNote, sampleNotes } from "./sample-notes.ts";
import { freePort } from "./targets.ts";
import { cpuMsBetween, readCpu, waitUntilIdle } from "./workerd-process.ts";

/** The seed of bench/run.ts: the same notes as the measured runs. */
const SEED = 0x6e70;
const repoRoot = fileURLToPath(new URL("..", import.meta.url));

interface Cell {
  size: string;
  count: number;
}

function parseCell(text: string): Cell {
  const match = /^(.+?)\s*[x×]\s*(\d+)$/.exec(text.trim());
  if (match === null) throw new Error(`A cell is "<size> x <count>", such as "1.6 KB x 100"; not ${text}.`);
  return { size: (match[1] as string).trim(), count: Number(match[2]) };
}

function print(title: string, summary: ProfileSummary, cpuMsPerInvocation: number): void {
  const perInvocation = (samples: number) => (samples / summary.requests).toFixed(2);
  const lines = [
    `${title}: ${cpuMsPerInvocation.toFixed(2)} ms of workerd CPU per invocation (profiler on), ${summary.jsSamples} JS samples, ${summary.programSamples} in (program), over ${summary.requests} invocations`,
    "  by module (share of JS samples, samples per invocation):",
    ...summary.byModule
      .slice(0, 10)
      .map(
        (e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${perInvocation(e.samples).padStart(6)}  ${e.name}`,
      ),
    "  functions (self):",
    ...summary.topFunctions.map(
      (e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${perInvocation(e.samples).padStart(6)}  ${e.name}`,
    ),
    "  lines (ticks):",
    ...summary.topLines.map(
      (e) => `    ${(e.share * 100).toFixed(1).padStart(5)} %  ${e.name}  ${e.code.slice(0, 110)}`,
    ),
  ];
  console.log(`${lines.join("\n")}\n`);
}

/** One HTTP request as deliver-cpu.ts sends it: a fresh signature per webhook (it holds the time). */
function httpRequest(route: string, url: string, ids: string[]): { url: string; init: RequestInit } {
  if (route === "webhook") {
    const body = resendWebhookBody(WEBHOOK_BYTES);
    return {
      url: `${url}/webhooks/resend`,
      init: { method: "POST", headers: { "content-type": "application/json", ...svixHeaders(body, Date.now()) }, body },
    };
  }
  return {
    url: `${url}/ops/dead-letters/replay`,
    init: {
      method: "POST",
      headers: { authorization: `Bearer ${BENCH_OPS_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ ids }),
    },
  };
}

async function profileHttp(
  setup: DeliverTargetSetup,
  bundlePath: string,
  route: string,
  note: SampleNote | undefined,
  requests: number,
): Promise<void> {
  const inspectorPort = await freePort();
  const target = await startHttpTarget(setup, "deliver-http", inspectorPort);
  const ids = Array.from({ length: REPLAY_IDS }, () => randomUUID());
  try {
    if (note !== undefined) {
      await fetch(`${target.url}/_bench/dead-letter-frame`, {
        method: "PUT",
        body: note.frame as Uint8Array<ArrayBuffer>,
      });
    }
    const send = async (times: number) => {
      for (let i = 0; i < times; i++) {
        const { url, init } = httpRequest(route, target.url, ids);
        const response = await fetch(url, init);
        const answer = await response.text();
        if (response.status !== 200) throw new Error(`${response.status} ${answer.slice(0, 300)}`);
      }
      await waitUntilIdle(target.pid, 0);
    };
    await send(Math.max(10, requests / 4));
    const before = readCpu(target.pid);
    const profile = await profileIsolate(inspectorPort, "core:user:deliver-http", () => send(requests));
    const cpuMs = cpuMsBetween(before, readCpu(target.pid)) / requests;
    const title = note === undefined ? route : `${route} of ${note.size.label} dead letters`;
    print(title, summarizeProfile(profile, bundlePath, requests), cpuMs);
  } finally {
    await target.miniflare.dispose();
  }
}

async function main(): Promise<void> {
  const options = new Command()
    .name("node bench/deliver-profile.ts")
    .option("--cell <cell...>", 'cells to profile, "<size> x <count>"', ["1.6 KB x 100", "16 KB x 100", "64 KB x 10"])
    .option("--config <config>", "the consumer: deliver or bare", "deliver")
    .option("--http <route...>", 'HTTP routes to profile instead: "webhook", "replay <size>"')
    .option("--invocations <n>", "profiled invocations per cell", "200")
    .parse()
    .opts<{ cell: string[]; config: QueueConfig; invocations: string; http?: string[] }>();
  const invocations = Number(options.invocations);
  const notes = await sampleNotes(SEED);
  const scratch = mkdtempSync(join(tmpdir(), "notepipe-deliver-profile-"));
  const stand = new ProviderStandIn();
  try {
    const bundles = await bundleDeliverWorkers(repoRoot, scratch, false);
    const bundle = bundles[options.config === "bare" ? "bare" : "deliver"];
    if ("failure" in bundle) throw new Error(bundle.failure);
    const setup = { repoRoot, bundles, providerUrl: await stand.url };
    if (options.http !== undefined) {
      const http = bundles["deliver-http"];
      if ("failure" in http) throw new Error(http.failure);
      for (const text of options.http) {
        const [route = "", ...size] = text.split(" ");
        const note = route === "replay" ? notes.find((n) => n.size.label === size.join(" ")) : undefined;
        if (route === "replay" && note === undefined) throw new Error(`No sample note of ${size.join(" ")}.`);
        await profileHttp(setup, http.path, route, note, invocations);
      }
      return;
    }
    for (const text of options.cell) {
      const cell = parseCell(text);
      const note = notes.find((n) => n.size.label === cell.size);
      if (note === undefined) throw new Error(`No sample note of ${cell.size}.`);
      const inspectorPort = await freePort();
      const target = await startQueueTarget(setup, options.config, inspectorPort);
      try {
        const drive = async (times: number) => {
          const response = await fetch(`${target.url}/run?count=${cell.count}&invocations=${times}`, {
            method: "POST",
            body: note.frame as Uint8Array<ArrayBuffer>,
          });
          const answer = await response.text();
          if (response.status !== 200 || answer.includes('"problem"')) throw new Error(answer.slice(0, 300));
          await waitUntilIdle(target.pid, 0);
        };
        await drive(Math.max(20, invocations / 4));
        const before = readCpu(target.pid);
        const profile = await profileIsolate(inspectorPort, `core:user:${options.config}-consumer`, () =>
          drive(invocations),
        );
        const cpuMs = cpuMsBetween(before, readCpu(target.pid)) / invocations;
        print(
          `${options.config} at ${cell.size} × ${cell.count}`,
          summarizeProfile(profile, bundle.path, invocations),
          cpuMs,
        );
      } finally {
        await target.miniflare.dispose();
      }
    }
  } finally {
    stand.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
