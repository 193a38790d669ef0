/**
 * The outbox in Chromium, through the demo page: notes written with no network survive a reload
 * and go out once it is back; two tabs share one outbox and one drainer (Web Locks); a write the
 * storage quota refuses leaves nothing behind. Takes the screenshot the READMEs show, into the tree
 * only when asked (NOTEPIPE_SCREENSHOTS=1): a test run leaves the tree as it found it. Each test
 * writes to addresses of its own: the page enrols each one (3 codes per address an hour), and every
 * test starts with a fresh browser that holds no token.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "@notepipe/local-stack";
import type { Page } from "playwright-core";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { type Chromium, emailsFor, launchChromium, openDemo, setOffline } from "./chromium.ts";

const SCREENSHOT = join(
  process.env.NOTEPIPE_SCREENSHOTS === "1"
    ? join(ROOT, "docs", "images")
    : mkdtempSync(join(tmpdir(), "notepipe-web-")),
  "web-demo.png",
);
const DELIVERED_WITHIN_MS = 90_000;
const demo = inject("demo");

let chromium: Chromium;

beforeEach(async () => {
  chromium = await launchChromium();
});

afterEach(async () => {
  await chromium?.close();
});

/** Enrols `to` through the page's form: its token is in this browser from then on. */
async function enrol(page: Page, to: string): Promise<void> {
  const before = await page.locator("#enrol-log li.enrolled").count();
  await page.fill("#enrol-to", to);
  await page.click("#enrol-send");
  await page.locator("#enrol-log li.enrolled").nth(before).waitFor();
}

/** Types a note into the page and waits for its row: the id the outbox gave it. */
async function write(page: Page, to: string, text: string): Promise<string> {
  const before = await page.locator("li.note").count();
  await page.fill("#to", to);
  await page.fill("#text", text);
  await page.click("#send");
  await page.locator("li.note").nth(before).waitFor();
  return (await page.locator("li.note").first().getAttribute("data-note-id")) as string;
}

async function stateOf(page: Page, id: string): Promise<string | null> {
  return page.locator(`li.note[data-note-id="${id}"]`).getAttribute("data-state");
}

function delivered(page: Page, id: string) {
  return page.waitForSelector(`li.note[data-note-id="${id}"][data-state="delivered"] output.plaintext`, {
    timeout: DELIVERED_WITHIN_MS,
  });
}

/** The keys of the demo's IndexedDB outbox, read past the SDK: one per note, and the lease's. */
function storedKeys(page: Page): Promise<IDBValidKey[]> {
  return page.evaluate(
    () =>
      new Promise<IDBValidKey[]>((resolve, reject) => {
        const open = indexedDB.open("notepipe-demo");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const keys = open.result.transaction("notes").objectStore("notes").getAllKeys();
          keys.onerror = () => reject(keys.error);
          keys.onsuccess = () => resolve(keys.result.filter((key) => key !== "lease"));
        };
      }),
  );
}

/** POST /v1/notes answered 202, as the page saw them. */
function acceptedPosts(page: Page): string[] {
  const posts: string[] = [];
  page.on("response", (response) => {
    if (response.request().method() === "POST" && new URL(response.url()).pathname === "/v1/notes") {
      if (response.status() === 202) posts.push(response.url());
    }
  });
  return posts;
}

describe("the outbox in a browser", () => {
  it("keeps notes written offline through a reload, and delivers each once the network is back", async () => {
    const page = await openDemo(chromium.context, demo.web);
    // The service worker holds the page's shell from now on: the reload below works offline.
    await page.evaluate(() => navigator.serviceWorker.ready);
    const notes = [
      { to: "ada.offline@example.com", text: "Written on the underground, no signal." },
      { to: "grace.offline@example.com", text: "Zweite Notiz, offline geschrieben: Grüße!" },
      { to: "alan.offline@example.com", text: "A third, still between two stations." },
    ];

    // Enrolled while online, as a user does once; the notes are written later with no network.
    for (const note of notes) await enrol(page, note.to);
    await setOffline(page, true);
    const ids: string[] = [];
    for (const note of notes) ids.push(await write(page, note.to, note.text));
    for (const id of ids) expect(await stateOf(page, id)).toBe("queued");

    await page.reload();
    await page.waitForSelector("body[data-ready]");
    expect(await page.evaluate(() => navigator.onLine)).toBe(false);
    for (const id of ids) expect(await stateOf(page, id)).toBe("queued");
    await expect.poll(() => page.textContent("#outbox-status")).toMatch(/^Offline\. 3 notes wait in the outbox/);
    for (const id of ids) expect(await emailsFor(demo.provider, id)).toEqual([]);

    await setOffline(page, false);
    for (const id of ids) await delivered(page, id);

    for (const [i, id] of ids.entries()) {
      const row = page.locator(`li.note[data-note-id="${id}"]`);
      const seen = await row.locator(".states .state").allTextContents();
      expect(seen.slice(0, 2)).toEqual(["queued", "accepted"]);
      expect(seen.at(-1)).toBe("delivered");
      expect(await row.locator(".note-offline").textContent()).toBe("written offline");
      expect(await row.locator("output.plaintext").textContent()).toBe(notes[i]?.text);
      const emails = await emailsFor(demo.provider, id);
      expect(emails.map((email) => email.to)).toEqual([[notes[i]?.to]]);
    }

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("sends each note once when two tabs drain one outbox", async () => {
    const tabs = [await openDemo(chromium.context, demo.web), await openDemo(chromium.context, demo.web)] as const;
    const posts = tabs.map(acceptedPosts);
    for (const tab of tabs) await setOffline(tab, true);
    const ids = [
      await write(tabs[0], "ada.tabs@example.com", "From the first tab."),
      await write(tabs[0], "grace.tabs@example.com", "From the first tab, again."),
      await write(tabs[1], "alan.tabs@example.com", "From the second tab."),
    ];

    // Both tabs see the network come back at once, and both try to drain.
    await Promise.all(tabs.map((tab) => setOffline(tab, false)));
    for (const tab of tabs) for (const id of ids) await delivered(tab, id);

    expect(posts.flat()).toHaveLength(ids.length);
    for (const id of ids) expect(await emailsFor(demo.provider, id)).toHaveLength(1);
  });

  it("refuses a note the storage quota cannot hold, storing nothing of it", async () => {
    const page = await chromium.context.newPage();
    // Set before the page first touches its storage: Chromium applies an override from then on.
    const cdp = await chromium.context.newCDPSession(page);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(demo.web).origin, quotaSize: 400_000 });
    // Filled before the demo opens, from a page of its origin with no script, so that what is left
    // (35 KB) holds a short note with room to spare and never a 60 KB one. Before: Chromium's IndexedDB approves a
    // write from the space left it last heard of from the quota manager, for up to 30 s
    // (kBucketSpaceCacheTimeLimit, content/browser/indexed_db), and the page asks when it keeps its
    // key on load; bytes put in Cache Storage after that would be missing from the figure. For the
    // same reason no service worker: it would cache the page's shell after the key is kept.
    await page.route("**/sw.js", (route) => route.abort());
    await page.goto(new URL("/quota-test-filler", demo.web).href);
    await page.evaluate(async () => {
      const { usage = 0 } = await navigator.storage.estimate();
      const cache = await caches.open("quota-test-filler");
      await cache.put("/quota-test-filler", new Response(new Uint8Array(Math.max(0, 400_000 - usage - 35_000))));
    });
    await page.goto(demo.web);
    await page.waitForSelector("body[data-ready]");

    await page.fill("#to", "ada.quota@example.com");
    await page.fill("#text", "x".repeat(60_000));
    await page.click("#send");
    await expect.poll(() => page.textContent("#send-status")).toMatch(/^storage_failed: /);
    expect(await page.textContent("#send-status")).toContain("QuotaExceededError");
    expect(await page.locator("li.note").count()).toBe(0);

    const small = await write(page, "ada.quota@example.com", "A short one fits.");
    expect(await storedKeys(page)).toEqual([small]);
  });
});
