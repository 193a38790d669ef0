/**
 * A phone's browser killed at the worst moments: Chromium over one persistent profile, SIGKILLed
 * (the OS reclaiming a backgrounded app, a crash, a dead battery) right after the page made its key,
 * right after notes were written offline, while a note's POST is in flight, and mid-drain after a
 * 202; started again over the same profile each time. Every note is emailed once, and every note
 * opens with the key the browser still holds: the key, the outbox, the tokens and the note list
 * are all in IndexedDB written with strict durability, none in localStorage, which Chromium
 * commits to disk on a timer. The profile lives in a temporary directory, removed afterwards.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, expect, inject, it } from "vitest";
import { emailsFor, type KillableChromium, launchKillableChromium, openDemo, setOffline } from "./chromium.ts";

const demo = inject("demo");
const TO = "ada.crash@example.com";
/** From the first POST to the email on the page: enrolment, deliver's batch, the webhook. */
const OPENS_WITHIN_MS = 90_000;
/** How long the page may take to reach the moment a kill waits for. */
const MOMENT_WITHIN_MS = 60_000;

const profile = mkdtempSync(join(tmpdir(), "notepipe-crash-profile-"));
let browser: KillableChromium | undefined;

afterAll(async () => {
  await browser?.kill();
  rmSync(profile, { recursive: true, force: true });
});

async function relaunch(): Promise<KillableChromium> {
  browser = await launchKillableChromium(profile);
  return browser;
}

/** The key id the page shows, once it has one: kept in IndexedDB and read back. */
async function shownKeyId(page: Page): Promise<string> {
  const key = page.locator("#key-fingerprint");
  await page.waitForFunction(() => document.getElementById("key-fingerprint")?.textContent !== "…");
  return (await key.textContent()) as string;
}

/** Types a note and waits for its row, which the page adds once `enqueue` resolved. */
async function write(page: Page, text: string): Promise<string> {
  const before = await page.locator("li.note").count();
  await page.fill("#to", TO);
  await page.fill("#text", text);
  await page.click("#send");
  await page.locator("li.note").nth(before).waitFor();
  return (await page.locator("li.note").first().getAttribute("data-note-id")) as string;
}

/** Resolves once `browser` was killed at the first moment `matches` sees on `page`. */
function killAt(
  page: Page,
  running: KillableChromium,
  matches: (event: "request" | "response", url: URL, status: number) => boolean,
) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("The moment to kill at never came.")), MOMENT_WITHIN_MS);
    const kill = () => {
      clearTimeout(timer);
      running.kill().then(resolve, reject);
    };
    page.on("request", (request) => {
      if (request.method() === "POST" && matches("request", new URL(request.url()), 0)) kill();
    });
    page.on("response", (response) => {
      const request = response.request();
      if (request.method() === "POST" && matches("response", new URL(response.url()), response.status())) kill();
    });
  });
}

const isNotePost = (url: URL) => url.pathname === "/v1/notes";

it("killed after the key is made, after enqueue, during the POST and mid-drain: every note is emailed once and opens with the browser's key", async () => {
  const texts = new Map<string, string>();

  // 1. The first start makes the key; the browser dies the moment the page shows it.
  let running = await relaunch();
  let page = await running.context.newPage();
  await page.goto(demo.web);
  const keyId = await shownKeyId(page);
  await running.kill();

  // 2. The same key after the crash; two notes written offline, and a kill right after the second.
  running = await relaunch();
  page = await openDemo(running.context, demo.web);
  expect(await shownKeyId(page)).toBe(keyId);
  await setOffline(page, true);
  for (const text of ["Written offline, before the second crash.", "Zweite Notiz, offline: Grüße!"]) {
    texts.set(await write(page, text), text);
  }
  await running.kill();

  // 3. Back online: the page enrols the address, drains, and dies while its first POST is in flight.
  running = await relaunch();
  page = await running.context.newPage();
  const duringPost = killAt(page, running, (event, url) => event === "request" && isNotePost(url));
  await page.goto(demo.web);
  await duringPost;

  // 4. Two more notes offline, then the network is back and the browser dies after the first 202.
  running = await relaunch();
  page = await openDemo(running.context, demo.web);
  expect(await shownKeyId(page)).toBe(keyId);
  await setOffline(page, true);
  for (const text of ["A third, between two stations.", "A fourth, and then the battery died."]) {
    texts.set(await write(page, text), text);
  }
  const after202 = killAt(
    page,
    running,
    (event, url, status) => event === "response" && isNotePost(url) && status === 202,
  );
  await setOffline(page, false);
  await after202;

  // 5. The last start: every note reaches its email, and the browser's key opens each one.
  running = await relaunch();
  page = await openDemo(running.context, demo.web);
  expect(await shownKeyId(page)).toBe(keyId);
  for (const [id, text] of texts) {
    const opened = page.locator(`li.note[data-note-id="${id}"] output.plaintext`);
    await opened.waitFor({ timeout: OPENS_WITHIN_MS });
    expect({
      id,
      text: await opened.textContent(),
      error: await opened.evaluate((node) => node.classList.contains("error")),
    }).toEqual({ id, text, error: false });
    expect(await page.textContent(`li.note[data-note-id="${id}"] .note-to`)).toBe(`to ${TO}`);
  }
  for (const id of texts.keys()) expect(await emailsFor(demo.provider, id)).toHaveLength(1);
  expect(texts.size).toBe(4);
}, 300_000);
