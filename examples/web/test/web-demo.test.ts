/**
 * The browser demo in a real browser (Debian's Chromium through playwright-core) on a real local
 * stack with delivery webhooks: the page enrols an address with a code read from the local inbox,
 * a note typed into the page goes through the SDK's outbox, its state moves to delivered, and the
 * email from the local inbox decrypts to the text in the page.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { confirmCode, requestCode } from "@notepipe/client";
import { ROOT } from "@notepipe/local-stack";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type Chromium, emailsFor, launchChromium, openDemo } from "./chromium.ts";

const DELIVERED_WITHIN_MS = 90_000;
const demo = inject("demo");

let chromium: Chromium;

beforeAll(async () => {
  chromium = await launchChromium();
});

afterAll(async () => {
  await chromium?.close();
});

/** The newest code email's code (8 characters of Crockford's base32) for `to`, once `count` code emails have reached it. */
async function codeFromInbox(to: string, count: number): Promise<string> {
  let text = "";
  await expect
    .poll(
      async () => {
        const res = await fetch(`${demo.provider}/inbox?to=${encodeURIComponent(to)}`);
        const { emails } = (await res.json()) as { emails: { noteId: string | null; text: string | null }[] };
        const codes = emails.filter((email) => email.noteId === null);
        text = codes.at(-1)?.text ?? "";
        return codes.length;
      },
      { timeout: 30_000 },
    )
    .toBe(count);
  return /\b([0-9A-HJKMNP-TV-Z]{8})\b/.exec(text)?.[1] as string;
}

describe("the browser demo", () => {
  it("enrols an address with the code from its email, and keeps its token", async () => {
    const page = await openDemo(chromium.context, demo.web);
    await page.fill("#enrol-to", "Enrol.Me@example.com");
    await page.click("#enrol-send");

    await page.waitForSelector("#enrol-log li.enrolled");
    const code = await codeFromInbox("enrol.me@example.com", 1);
    const steps = await page.locator("#enrol-log li").allTextContents();
    expect(steps).toEqual([
      "enrol.me@example.com: POST /v1/tokens/code → 202, a code is on its way.",
      expect.stringMatching(new RegExp(`^The email in the local inbox: “Your notepipe code”: .*${code}`)),
      `enrol.me@example.com: POST /v1/tokens with ${code} → its client token, kept in this browser.`,
    ]);
    expect(await page.textContent("#enrolled")).toBe("enrol.me@example.com");
    // Kept in IndexedDB (src/page-store.ts), not in localStorage, which a crash can take.
    const token = await page.evaluate(
      () =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open("notepipe-demo-page");
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const read = open.result.transaction("items").objectStore("items").get("token:enrol.me@example.com");
            read.onsuccess = () => resolve(read.result);
            read.onerror = () => reject(read.error);
          };
        }),
    );
    expect(token).toMatch(/^np2\./);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
  });

  it("enrols a new address when its note is sent, shows the note move to delivered, and decrypts its email", async () => {
    const page = await openDemo(chromium.context, demo.web);
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    const origins = new Set<string>();
    page.on("request", (request) => origins.add(new URL(request.url()).origin));

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
    expect(seen.slice(0, 2)).toEqual(["queued", "accepted"]);
    expect(seen.at(-1)).toBe("delivered");
    expect(seen.indexOf("sent")).toBeLessThan(seen.indexOf("delivered"));
    expect(await note.locator("output.plaintext").textContent()).toBe(text);
    expect(await page.textContent("#send-status")).toBe(
      `Note ${id} is in the outbox: it leaves as soon as the network allows.`,
    );

    // The page only talks to its own origin: the demo server passes /v1/* and /inbox on.
    expect([...origins]).toEqual([new URL(demo.web).origin]);
    expect(pageErrors).toEqual([]);
    expect(await emailsFor(demo.provider, id as string)).toHaveLength(1);
  });

  it("lets a page on another origin call ingest directly: CORS", async () => {
    // The shipped minimal vector (packages/frame/vectors): a real frame for a@b.c.
    const frame = [...readFileSync(join(ROOT, "packages/frame/vectors/valid-minimal.bin"))];
    await requestCode({ endpoint: demo.ingest }, "a@b.c");
    const token = await confirmCode({ endpoint: demo.ingest }, "a@b.c", await codeFromInbox("a@b.c", 1));
    expect(new URL(demo.ingest).origin).not.toBe(new URL(demo.web).origin);

    const page = await chromium.context.newPage();
    await page.goto(demo.web);
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
      { url: demo.ingest, frame, token },
    );

    expect(answers.accepted).toEqual({ status: 202, body: { id: "9aa7c548-ad1e-4f78-e2e6-0ac888e03252" } });
    expect(answers.refused).toEqual({ status: 401, body: { error: "unauthorized", message: expect.any(String) } });
  });
});
