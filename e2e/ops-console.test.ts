/**
 * The ops console in Chromium (Debian's, through playwright-core, as the web demo's tests drive it)
 * on a real local stack, as an operator who never used the CLI: signs in at ingest's /ops/, sees
 * the notes that went through counted and charted, sees the notes the provider refused as dead
 * letters, replays them from the page once the cause is fixed and watches them delivered, and
 * finds a note by its id. Takes the screenshots the README shows, into docs/images/ only when
 * asked (NOTEPIPE_SCREENSHOTS=1): a test run leaves the tree as it found it.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, type LocalStack as Stack, startStack } from "@notepipe/local-stack";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Chromium, launchChromium } from "../examples/web/test/chromium.ts";
import { emailsByNote, makeNote, type Note, postNote, setFaults, waitForFinalStates } from "./notes.ts";

/**
 * Retries in seconds, not hours: a refused sender opens the provider's circuit, its notes wait for
 * the next probe (CIRCUIT_PROBE_SECONDS, at most PIPELINE_RETRY_SECONDS) between deliveries, and
 * Queues dead-letters a note after 3 of them (MAX_RETRIES), so that the drill takes seconds even
 * on a loaded machine.
 */
const DRILL_VARS = {
  RETRY_BASE_SECONDS: "1",
  RETRY_MAX_SECONDS: "2",
  PIPELINE_RETRY_SECONDS: "1",
  CIRCUIT_PROBE_SECONDS: "1",
};
const MAX_RETRIES = 2;
const SCREENSHOTS =
  process.env.NOTEPIPE_SCREENSHOTS === "1"
    ? join(ROOT, "docs", "images")
    : mkdtempSync(join(tmpdir(), "notepipe-ops-"));
/** A phone-sized width is what the pages are laid out for first. */
const VIEWPORT = { width: 900, height: 1100 };
/** How often a page is reloaded while waiting for the stack, and how many times at most. */
const RELOAD_EVERY_MS = 1_000;
const MAX_RELOADS = 90;

let stack: Stack;
let opsToken: string;
let chromium: Chromium;
let page: Page;

beforeAll(async () => {
  stack = await startStack({
    ingestPort: 0,
    providerPort: 0,
    ephemeral: true,
    deliveryWebhooks: true,
    deliverVars: DRILL_VARS,
    deliverMaxRetries: MAX_RETRIES,
  });
  opsToken = (JSON.parse(stack.opsTokens) as string[])[0] as string;
  chromium = await launchChromium();
  page = await chromium.context.newPage();
  await page.setViewportSize(VIEWPORT);
});

afterAll(async () => {
  await chromium?.close();
  await stack?.stop();
});

/** Reloads `path` until `ready` says the page shows what the test waits for; bounded. */
async function reloadUntil(path: string, ready: (page: Page) => Promise<boolean>): Promise<void> {
  for (let i = 0; i < MAX_RELOADS; i++) {
    await page.goto(`${stack.ingestUrl}${path}`);
    if (await ready(page)) return;
    await page.waitForTimeout(RELOAD_EVERY_MS);
  }
  throw new Error(`${path} did not show what was awaited after ${MAX_RELOADS} loads`);
}

async function numberIn(selector: string): Promise<number> {
  return Number(await page.textContent(selector));
}

describe("the ops console in a browser", () => {
  const sent: Note[] = [];
  const refused: Note[] = [];

  it("signs in with an ops token, into a session cookie the page's script cannot read", async () => {
    await page.goto(`${stack.ingestUrl}/ops/`);
    expect(new URL(page.url()).pathname).toBe("/ops/console/sign-in");
    await page.fill('input[name="token"]', "not-the-ops-token-0123456789");
    await page.click("button:has-text('Sign in')");
    expect(await page.textContent("[role=alert]")).toBe("That is not a current ops token.");

    await page.fill('input[name="token"]', opsToken);
    await page.click("button:has-text('Sign in')");
    expect(new URL(page.url()).pathname).toBe("/ops/");
    const cookies = await chromium.context.cookies(stack.ingestUrl);
    expect(
      cookies.map(({ name, httpOnly, secure, sameSite, path }) => ({ name, httpOnly, secure, sameSite, path })),
    ).toEqual([{ name: "__Host-notepipe-ops", httpOnly: true, secure: true, sameSite: "Strict", path: "/" }]);
    expect(await page.evaluate(() => document.cookie)).toBe("");
  });

  it("counts and charts the notes that went through", async () => {
    for (const [i, who] of ["ada", "grace", "katherine"].entries()) {
      const note = await makeNote(`Console note ${i}.`, `${who}@example.com`);
      expect((await postNote(stack, note)).status).toBe(202);
      sent.push(note);
    }
    const states = await waitForFinalStates(
      stack,
      sent.map((note) => note.id),
      60_000,
    );
    expect([...states.values()].every((state) => state === "sent" || state === "delivered")).toBe(true);

    await reloadUntil("/ops/", async () => (await numberIn('[data-total="sent"]')) >= sent.length);
    expect(await numberIn('[data-total="accepted"]')).toBeGreaterThanOrEqual(sent.length);
    // The line steps up from zero somewhere in the last 24 hours: its path has a vertical move.
    expect(await page.getAttribute('path[data-series="sent"]', "d")).toMatch(/V/);
  });

  it("shows the notes the provider refused as dead letters, with the reason and the address masked", async () => {
    await setFaults(stack.providerUrl, { reject: "domain_not_verified" });
    for (const [i, who] of ["hedy", "radia"].entries()) {
      const note = await makeNote(`Refused note ${i}.`, `${who}@example.com`);
      expect((await postNote(stack, note)).status).toBe(202);
      refused.push(note);
    }
    const states = await waitForFinalStates(
      stack,
      refused.map((note) => note.id),
      150_000,
    );
    expect([...states.values()]).toEqual(["dead", "dead"]);

    await reloadUntil("/ops/", async () => (await page.locator('[data-dead="sender_not_verified"]').count()) > 0);
    expect(await numberIn('[data-dead="sender_not_verified"]')).toBe(2);
    expect(await numberIn('[data-answers="refused"]')).toBeGreaterThan(0);
    await page.screenshot({ path: join(SCREENSHOTS, "ops-overview.png"), fullPage: true });

    await page.click("a:has-text('sender_not_verified')");
    const rows = page.locator("tbody tr:has(input[name=id])");
    expect(await rows.count()).toBe(2);
    const listed = (await rows.allTextContents()).join(" ");
    expect(listed).toContain("h***@example.com");
    expect(listed).toContain("r***@example.com");
    expect(await page.content()).not.toContain("hedy@example.com");
    await page.screenshot({ path: join(SCREENSHOTS, "ops-dead-letters.png"), fullPage: true });
  }, 200_000);

  it("replays them from the page once the cause is fixed, and each is delivered once", async () => {
    await setFaults(stack.providerUrl, {});
    await page.click("button:has-text('Replay all')");
    expect(await page.textContent("[role=status]")).toContain("Replayed 2, skipped 0, failed 0.");

    // Sent, then the provider's delivery webhook: polled, at most a minute.
    await expect
      .poll(
        async () => [
          ...(
            await waitForFinalStates(
              stack,
              refused.map((note) => note.id),
              0,
            )
          ).values(),
        ],
        {
          timeout: 60_000,
          interval: 500,
        },
      )
      .toEqual(["delivered", "delivered"]);
    const inbox = await emailsByNote(stack);
    for (const note of refused) expect(inbox.get(note.id)).toHaveLength(1);
  }, 90_000);

  it("finds a note by its id: its timeline from refusal to delivery, the address masked", async () => {
    const note = refused[0] as Note;
    await reloadUntil(`/ops/console/notes/${note.id}`, async (shown) =>
      ((await shown.textContent("main")) ?? "").includes("delivered (provider webhook)"),
    );
    await page.goto(`${stack.ingestUrl}/ops/`);
    await page.fill('header input[name="id"]', note.id);
    await page.click("header button:has-text('Find')");
    expect(new URL(page.url()).pathname).toBe(`/ops/console/notes/${note.id}`);
    const text = (await page.textContent("main")) ?? "";
    for (const step of [
      "accepted by ingest",
      "attempt failed, retrying",
      "retries ran out",
      "replayed by an operator",
      "sent: the provider took it",
      "delivered (provider webhook)",
    ]) {
      expect(text).toContain(step);
    }
    expect(text).not.toContain("hedy@");
    await page.screenshot({ path: join(SCREENSHOTS, "ops-note.png"), fullPage: true });
  });
});
