/** Debian's Chromium through playwright-core, as every browser test here drives it. */

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, type CDPSession, chromium, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

export interface Chromium {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A headless Chromium with a fresh profile of its own (its own IndexedDB, localStorage, service
 * workers), removed by `close()`.
 */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium (.ci/run does).`);
  }
  const profile = mkdtempSync(join(tmpdir(), "notepipe-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
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
