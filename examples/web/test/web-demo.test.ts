/**
 * The browser demo in a real browser (Debian's Chromium through playwright-core) on a real local
 * stack with delivery webhooks: a note typed into the page is encrypted and sent by the SDK, its
 * state moves to delivered, and the email from the local inbox decrypts to the text in the page.
 * Saves the screenshot the README shows.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, type Stack, startStack } from "../../../scripts/stack.ts";
import { type RunningWebDemo, startWebDemo } from "../src/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = join(ROOT, "docs", "images", "web-demo.png");
const DELIVERED_WITHIN_MS = 90_000;

let stack: Stack;
let web: RunningWebDemo;
let browser: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium (.ci/run does).`);
  }
  stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true, deliveryWebhooks: true });
  web = await startWebDemo({
    port: 0,
    ingestUrl: stack.ingestUrl,
    providerUrl: stack.providerUrl,
    tokenSecrets: stack.tokenSecrets,
  });
  profile = mkdtempSync(join(tmpdir(), "notepipe-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
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
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await stack?.stop();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

describe("the browser demo", () => {
  it("sends a note, shows it move to delivered, and decrypts its email", async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const origins = new Set<string>();
    page.on("request", (request) => origins.add(new URL(request.url()).origin));

    await page.goto(web.url);
    await expect.poll(() => page.textContent("#key-fingerprint")).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){3}$/);
    const text = "Meet me at the old oak at noon. Bring the map. Grüße aus Chromium!";
    await page.fill("#to", "ada@example.com");
    await page.fill("#text", text);
    await page.click("#send");

    const note = page.locator("li.note").first();
    await note.waitFor();
    const id = await note.getAttribute("data-note-id");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    await page.waitForSelector(`li.note[data-note-id="${id}"][data-state="delivered"]`, {
      timeout: DELIVERED_WITHIN_MS,
    });
    await page.waitForSelector(`li.note[data-note-id="${id}"] output.plaintext`);

    const seen = await note.locator(".states .state").allTextContents();
    expect(seen[0]).toBe("pending");
    expect(seen.at(-1)).toBe("delivered");
    expect(seen.indexOf("sent")).toBeLessThan(seen.indexOf("delivered"));
    expect(await note.locator("output.plaintext").textContent()).toBe(text);
    expect(await page.textContent("#send-status")).toBe(`Ingest answered 202: note ${id} is queued.`);

    // The page only talks to its own origin: the demo server passes /v1/* and /inbox on.
    expect([...origins]).toEqual([new URL(web.url).origin]);
    expect(pageErrors).toEqual([]);
    const inbox = (await (await fetch(`${stack.providerUrl}/inbox?note_id=${id}`)).json()) as { count: number };
    expect(inbox.count).toBe(1);

    mkdirSync(join(ROOT, "docs", "images"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it("lets a page on another origin call ingest directly: CORS", async () => {
    // The shipped minimal vector (packages/frame/vectors): a real frame for a@b.c.
    const frame = [...readFileSync(join(ROOT, "packages/frame/vectors/valid-minimal.bin"))];
    const minted = await fetch(new URL("/dev/token", web.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "a@b.c" }),
    });
    const { token } = (await minted.json()) as { token: string };
    expect(new URL(stack.ingestUrl).origin).not.toBe(new URL(web.url).origin);

    const page = await browser.newPage();
    await page.goto(web.url);
    // Without CORS on ingest, the browser refuses both fetches (TypeError: Failed to fetch).
    const answers = await page.evaluate(
      async ({ url, frame, token }) => {
        const body = new Uint8Array(frame);
        const read = async (response: Response) => ({ status: response.status, body: await response.json() });
        const headers = { "content-type": "application/octet-stream" };
        return {
          accepted: await read(
            await fetch(`${url}/v1/notes`, {
              method: "POST",
              headers: { ...headers, authorization: `Bearer ${token}` },
              body,
            }),
          ),
          refused: await read(await fetch(`${url}/v1/notes`, { method: "POST", headers, body })),
        };
      },
      { url: stack.ingestUrl, frame, token },
    );

    expect(answers.accepted).toEqual({ status: 202, body: { id: "9aa7c548-ad1e-4f78-e2e6-0ac888e03252" } });
    expect(answers.refused).toEqual({ status: 401, body: { error: "unauthorized", message: expect.any(String) } });
  });
});
