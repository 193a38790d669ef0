/**
 * Where workerd's CPU goes: a V8 CPU profile of every isolate in one Miniflare instance while the load
 * runs, taken over workerd's own inspector (headless: `Profiler.start` / `Profiler.stop` over its
 * websocket, which only accepts an `Origin: http://localhost` client). The Worker's samples are mapped
 * through the bundle's source map to the package and file they come from.
 */

import { existsSync, readFileSync } from "node:fs";
import type { Profiler } from "node:inspector";
import { SourceMap, type SourceMapping } from "node:module";
import { basename } from "node:path";
import { LoadProcess } from "./load.ts";
import type { SampleNote } from "./sample-notes.ts";
import {
  type CpuConfig,
  freePort,
  loadJob,
  runLoad,
  scriptOf,
  startTarget,
  type TargetSetup,
  trailingWorkMs,
} from "./targets.ts";
import type { CpuLoad } from "./workerd-cpu.ts";
import { processCpuMs, waitUntilIdle } from "./workerd-process.ts";

/** V8's default is 1000 µs. Asked for 100 µs, workerd's sampler delivers a sample every 0.2–1 ms. */
const SAMPLING_INTERVAL_US = 100;

interface InspectorTarget {
  id: string;
  webSocketDebuggerUrl: string;
}

/** The smallest DevTools-protocol client: one request at a time per method call, answers by id. */
class InspectorSession {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  #nextId = 0;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (waiter === undefined || message.id === undefined) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
  }

  static open(url: string): Promise<InspectorSession> {
    // workerd refuses inspector clients from other origins.
    const socket = new WebSocket(url, { headers: { origin: "http://localhost" } });
    return new Promise((resolve, reject) => {
      socket.addEventListener("open", () => resolve(new InspectorSession(socket)), { once: true });
      socket.addEventListener("error", () => reject(new Error(`Cannot open the inspector at ${url}.`)), { once: true });
    });
  }

  call<T>(method: string, params: object = {}): Promise<T> {
    const id = ++this.#nextId;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#socket.close();
  }
}

/**
 * Profiles one isolate of the workerd whose inspector listens on `inspectorPort` while `load` runs:
 * `core:user:<worker>` for a Worker (Miniflare's own services, such as the queue broker and the rate
 * limiter, are targets of their own).
 */
export async function profileIsolate(
  inspectorPort: number,
  targetId: string,
  load: () => Promise<void>,
): Promise<Profiler.Profile> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as InspectorTarget[];
  const target = targets.find((t) => t.id === targetId);
  if (target === undefined) throw new Error(`workerd's inspector lists no ${targetId}.`);
  const session = await InspectorSession.open(target.webSocketDebuggerUrl);
  try {
    await session.call("Profiler.enable");
    await session.call("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
    await session.call("Profiler.start");
    await load();
    return (await session.call<{ profile: Profiler.Profile }>("Profiler.stop")).profile;
  } finally {
    session.close();
  }
}

export interface ProfileEntry {
  /** A function (`name file:line`), a package or a source line. */
  name: string;
  /** Samples that landed in it (self). */
  samples: number;
  /** Its share of the isolate's JavaScript samples (native API calls and GC included, "(program)" not). */
  share: number;
}

export interface ProfileLine extends ProfileEntry {
  /** The source line itself, trimmed. */
  code: string;
}

export interface ProfileSummary {
  requests: number;
  /** The isolate's JavaScript samples: what the shares divide. */
  jsSamples: number;
  /**
   * Samples in "(program)": the thread outside any JS frame, which is workerd's C++ and also its
   * waits (workerd does not mark idle time for V8), so it is kept out of the shares.
   */
  programSamples: number;
  /** The Worker's JavaScript by package or source file, busiest first. */
  byModule: ProfileEntry[];
  /** Its busiest functions. */
  topFunctions: ProfileEntry[];
  /** Its busiest source lines (needs an unminified bundle). */
  topLines: ProfileLine[];
}

const IDLE = "(idle)";
const PROGRAM = "(program)";
const ROOT = "(root)";

/**
 * Samples per node id. Each sample counts once, whatever V8's timeDeltas say: those are wall-clock,
 * and on a busy 2-core machine a thread the OS preempted would charge the whole wait to the frame it
 * was in. A preempted thread takes no samples, so counts follow CPU time.
 */
function sampleCounts(profile: Profiler.Profile): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of profile.samples ?? []) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

function sourceAt(map: SourceMap | undefined, line: number, column: number): SourceMapping | undefined {
  const entry = map?.findEntry(line, column);
  return entry !== undefined && "originalSource" in entry ? (entry as SourceMapping) : undefined;
}

/** "hono", "@notepipe/frame", "workers/ingest", from a source-map path. */
function packageOf(source: string): string {
  const nodeModules = source.lastIndexOf("node_modules/");
  if (nodeModules !== -1) {
    const parts = source.slice(nodeModules + "node_modules/".length).split("/");
    return (parts[0] ?? "").startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? source);
  }
  const workspace = /(packages|workers)\/([^/]+)\//.exec(source);
  if (workspace !== null) return workspace[1] === "packages" ? `@notepipe/${workspace[2]}` : `workers/${workspace[2]}`;
  return source;
}

function shortSource(source: string): string {
  const nodeModules = source.lastIndexOf("node_modules/");
  if (nodeModules !== -1) return source.slice(nodeModules + "node_modules/".length);
  const workspace = /(?:packages|workers)\/.*$/.exec(source);
  return workspace === null ? source : workspace[0];
}

/** Reads source lines out of a source map's sourcesContent, one file at a time. */
class SourceLines {
  readonly #map: SourceMap;
  readonly #files = new Map<string, string[]>();
  constructor(map: SourceMap) {
    this.#map = map;
  }
  line(source: string, index: number): string {
    let lines = this.#files.get(source);
    if (lines === undefined) {
      const content = this.#map.payload.sourcesContent?.[this.#map.payload.sources.indexOf(source)];
      lines = (content ?? "").split("\n");
      this.#files.set(source, lines);
    }
    return (lines[index] ?? "").trim();
  }
}

/**
 * Summarises a Worker isolate's profile: its JavaScript samples by package (through the bundle's
 * source map), its busiest functions and source lines. Frames outside the bundle are the runtime's:
 * its native APIs (`arrayBuffer`, `verify`, a binding's method) under their own name, V8's
 * "(garbage collector)", and modules the runtime or Miniflare inject (such as
 * `cloudflare-internal:ratelimit:module`, Miniflare's rate limiter).
 */
export function summarizeProfile(profile: Profiler.Profile, scriptPath: string, requests: number): ProfileSummary {
  const scriptName = basename(scriptPath);
  const mapPath = `${scriptPath}.map`;
  const sourceMap = existsSync(mapPath) ? new SourceMap(JSON.parse(readFileSync(mapPath, "utf8"))) : undefined;
  const sourceLines = sourceMap === undefined ? undefined : new SourceLines(sourceMap);
  const generatedLines = readFileSync(scriptPath, "utf8").split("\n");
  const counts = sampleCounts(profile);
  const byModule = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byLine = new Map<string, { code: string; samples: number }>();
  const add = (map: Map<string, number>, key: string, samples: number) => map.set(key, (map.get(key) ?? 0) + samples);
  let jsSamples = 0;
  let programSamples = 0;
  for (const node of profile.nodes) {
    const samples = counts.get(node.id) ?? 0;
    const frame = node.callFrame;
    if (samples === 0 || frame.functionName === IDLE || frame.functionName === ROOT) continue;
    if (frame.functionName === PROGRAM) {
      programSamples += samples;
      continue;
    }
    jsSamples += samples;
    let module = frame.functionName === "(garbage collector)" ? "V8 garbage collector" : "runtime APIs (native)";
    let name = frame.functionName || "(anonymous)";
    if (frame.url.endsWith(scriptName)) {
      const entry = sourceAt(sourceMap, frame.lineNumber, frame.columnNumber);
      module = entry === undefined ? scriptName : packageOf(entry.originalSource);
      if (entry !== undefined) name = `${name} ${shortSource(entry.originalSource)}:${entry.originalLine + 1}`;
      // V8 counts a function's samples per line of the generated code; in an unminified bundle each
      // generated line is one source line. (Ticks are hit counts, close to but not exactly samples.)
      for (const { line, ticks } of node.positionTicks ?? []) {
        const generated = generatedLines[line - 1] ?? "";
        const at = sourceAt(sourceMap, line - 1, generated.length - generated.trimStart().length);
        if (at === undefined || sourceLines === undefined) continue;
        const where = `${shortSource(at.originalSource)}:${at.originalLine + 1}`;
        const previous = byLine.get(where)?.samples ?? 0;
        byLine.set(where, { code: sourceLines.line(at.originalSource, at.originalLine), samples: previous + ticks });
      }
    } else if (frame.url !== "") {
      module = frame.url;
    }
    add(byModule, module, samples);
    add(byFunction, name, samples);
  }
  const share = (samples: number) => samples / Math.max(1, jsSamples);
  const entries = (map: Map<string, number>) =>
    [...map].map(([name, samples]) => ({ name, samples, share: share(samples) })).sort((a, b) => b.samples - a.samples);
  const topLines = [...byLine]
    .map(([name, { code, samples }]) => ({ name, code, samples, share: share(samples) }))
    .sort((a, b) => b.samples - a.samples)
    .slice(0, 15);
  return {
    requests,
    jsSamples,
    programSamples,
    byModule: entries(byModule),
    topFunctions: entries(byFunction).slice(0, 15),
    topLines,
  };
}

export interface ProfileRun extends ProfileSummary {
  config: CpuConfig;
  size: string;
  /** The workerd process's utime + stime per request during the profiled run (profiling adds to it). */
  processCpuMsPerRequest: number;
}

/**
 * Profiles one configuration under the same load as the measured runs, in a fresh instance with the
 * inspector on (never the measured ones: a profiler costs CPU of its own).
 */
export async function profileConfig(
  setup: TargetSetup,
  config: CpuConfig,
  note: SampleNote,
  load: CpuLoad,
): Promise<ProfileRun> {
  const inspectorPort = await freePort();
  // The unminified build of the same bundle, so that line ticks name source lines.
  const profiled = { ...setup, ingestBundle: setup.ingestProfileBundle };
  const target = await startTarget(profiled, config, inspectorPort);
  const loader = new LoadProcess();
  try {
    await runLoad(target, loader, loadJob(target, note, load.warmupRequests, load.concurrency));
    await waitUntilIdle(target.pid, trailingWorkMs(target));
    const before = processCpuMs(target.pid);
    const profile = await profileIsolate(inspectorPort, `core:user:${config}`, async () => {
      await runLoad(target, loader, loadJob(target, note, load.requests, load.concurrency));
      await waitUntilIdle(target.pid, trailingWorkMs(target));
    });
    const processCpuMsPerRequest = (processCpuMs(target.pid) - before) / load.requests;
    return {
      config,
      size: note.size.label,
      processCpuMsPerRequest,
      ...summarizeProfile(profile, scriptOf(profiled, config), load.requests),
    };
  } finally {
    loader.stop();
    await target.miniflare.dispose();
  }
}
