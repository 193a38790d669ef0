/** Debian's Chromium through playwright-core, as every browser test here drives it. */

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type CDPSession, chromium, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** How long a Chromium start may take before the test gives up on it. */
const START_WITHIN_MS = 60_000;

function checkChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium (.ci/run does).`);
  }
}

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A headless Chromium with a fresh profile of its own (its own IndexedDB, localStorage, service
 * workers), removed by `close()`.
 */
export async function launchChromium(): Promise<Chromium> {
  checkChromium();
  const profile = mkdtempSync(join(tmpdir(), "notepipe-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 960, height: 900 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface KillableChromium {
  context: BrowserContext;
  /** SIGKILL to the browser and every process it started, as the OS reclaiming an app does; resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * Chromium started as its own process group over `profile` (a `--user-data-dir` that outlives it),
 * driven over the DevTools protocol, so that it can be killed with no chance to write anything
 * more, and started again over the same profile as a phone's browser is after a crash.
 */
export async function launchKillableChromium(profile: string): Promise<KillableChromium> {
  checkChromium();
  const child = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"], {
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let tail = "";
    const timer = setTimeout(
      () => reject(new Error(`Chromium did not listen within ${START_WITHIN_MS} ms.`)),
      START_WITHIN_MS,
    );
    child.stderr.on("data", (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4096);
      const listening = /DevTools listening on (ws:\/\/\S+)/.exec(tail);
      if (listening?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(listening[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before it listened: ${tail}`));
    });
  });
  const browser = await chromium.connectOverCDP(endpoint);
  const context = browser.contexts()[0];
  if (context === undefined) throw new Error("Chromium over CDP has no default context.");
  return {
    context,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), "SIGKILL");
      await exited;
    },
  };
}

/** Opens the demo and waits until its script has rendered the outbox and started draining it. */
export async function openDemo(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector("body[data-ready]");
  return page;
}

/** Network emulation belongs to the DevTools session that set it: one session per page undoes it. */
const sessions = new WeakMap<Page, Promise<CDPSession>>();

/** Cuts `page` off the network, or puts it back, as a phone losing signal: `navigator.onLine` follows. */
export async function setOffline(page: Page, offline: boolean): Promise<void> {
  let session = sessions.get(page);
  if (session === undefined) {
    session = page.context().newCDPSession(page);
    sessions.set(page, session);
  }
  await (await session).send("Network.emulateNetworkConditions", {
    offline,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
}

/** The emails the local provider received for one note. */
export async function emailsFor(providerUrl: string, id: string): Promise<{ text: string | null; to: string[] }[]> {
  const res = await fetch(`${providerUrl}/inbox?note_id=${id}`);
  return ((await res.json()) as { emails: { text: string | null; to: string[] }[] }).emails;
}
