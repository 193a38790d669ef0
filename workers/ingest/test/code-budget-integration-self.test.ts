/**
 * The deployment's daily budget of code emails (src/enrollment/code-budget.ts) inside workerd: past
 * CODE_EMAILS_PER_DAY, POST /v1/tokens/code answers 429 with Retry-After until the next UTC
 * midnight, queues nothing and stores no code; two requests at the last email get one; a new UTC day
 * has the whole budget; a code that could not be issued or queued gives its email back.
 */

import { createExecutionContext, reset, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, expect, it, vi } from "vitest";
import { BUDGET_NAME, utcDay } from "../src/enrollment/code-budget.ts";
import { CODES_PER_HOUR } from "../src/enrollment/guard.ts";
import worker from "../src/index.ts";
import { BASE } from "./client.ts";

afterEach(() => reset());

const DAY_MS = 24 * 60 * 60 * 1000;
/** This file's cap, from its own settings: small enough to reach in a test. */
const PER_DAY = 3;

let nextClient = 1;

/** POST /v1/tokens/code for `to`, each from its own client address, under `perDay` (CODE_EMAILS_PER_DAY). */
async function requestCode(to: string, perDay = String(PER_DAY)): Promise<Response> {
  return worker.fetch(
    new Request(`${BASE}/v1/tokens/code`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": `192.0.2.${nextClient++}` },
      body: JSON.stringify({ to }),
    }) as Request<unknown, IncomingRequestCfProperties>,
    { ...env, CODE_EMAILS_PER_DAY: perDay } as Env,
    createExecutionContext(),
  );
}

const budget = () => env.CODE_EMAIL_BUDGET.getByName(BUDGET_NAME);

/** The budget's rows: one per UTC day it holds. */
function spentRows(): Promise<{ day: string; emails: number }[]> {
  return runInDurableObject(budget(), (_, state) =>
    state.storage.sql.exec<{ day: string; emails: number }>("SELECT day, emails FROM spent ORDER BY day").toArray(),
  );
}

function liveCodesOf(address: string): Promise<unknown> {
  return runInDurableObject(env.ENROLLMENT_GUARD.getByName(address), (_, state) => state.storage.kv.get("live"));
}

it("past the day's code emails answers 429 with Retry-After to the next UTC midnight, queues nothing, stores no code", async () => {
  for (let i = 0; i < PER_DAY; i++) expect((await requestCode(`reader${i}@example.com`)).status).toBe(202);
  const send = vi.spyOn(env.CODES_QUEUE, "send");

  const before = Date.now();
  const refused = await requestCode("one-too-many@example.com");
  const after = Date.now();

  expect(refused.status).toBe(429);
  expect(await refused.json()).toEqual({
    error: "rate_limited",
    message: "This service has sent all the codes it sends today; retry after the Retry-After seconds.",
  });
  const retryAfter = Number(refused.headers.get("retry-after"));
  const toMidnight = (now: number) => Math.ceil(((Math.floor(now / DAY_MS) + 1) * DAY_MS - now) / 1000);
  expect(retryAfter).toBeGreaterThanOrEqual(toMidnight(after));
  expect(retryAfter).toBeLessThanOrEqual(toMidnight(before));
  expect(send).not.toHaveBeenCalled();
  expect(await liveCodesOf("one-too-many@example.com")).toBeUndefined();
  expect(await spentRows()).toEqual([{ day: utcDay(after), emails: PER_DAY }]);
});

it("two requests at the day's last code email: exactly one is queued", async () => {
  for (let i = 0; i < PER_DAY - 1; i++) expect((await requestCode(`reader${i}@example.com`)).status).toBe(202);
  const send = vi.spyOn(env.CODES_QUEUE, "send");

  const answers = await Promise.all([requestCode("ada@example.com"), requestCode("bob@example.com")]);

  expect(answers.map((answer) => answer.status).sort()).toEqual([202, 429]);
  expect(send).toHaveBeenCalledTimes(1);
  expect((await spentRows())[0]?.emails).toBe(PER_DAY);
});

it("a new UTC day has the whole budget, and the days before are deleted", async () => {
  const midnight = Date.UTC(2026, 11, 8);
  for (let i = 0; i < PER_DAY; i++) expect(await budget().take(PER_DAY, midnight - 1)).toMatchObject({ ok: true });

  expect(await budget().take(PER_DAY, midnight - 1)).toEqual({ ok: false, retryAfterSeconds: 1 });
  expect(await budget().take(PER_DAY, midnight)).toEqual({ ok: true, day: "2026-12-08" });

  expect(await spentRows()).toEqual([{ day: "2026-12-08", emails: 1 }]);
});

it("a code the queue refuses gives its email back: the next request still gets one", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  for (let i = 0; i < PER_DAY - 1; i++) expect((await requestCode(`reader${i}@example.com`)).status).toBe(202);
  vi.spyOn(env.CODES_QUEUE, "send").mockRejectedValueOnce(new Error("Queue send failed"));

  expect((await requestCode("ada@example.com")).status).toBe(503);
  expect((await spentRows())[0]?.emails).toBe(PER_DAY - 1);
  expect((await requestCode("ada@example.com")).status).toBe(202);
  expect((await spentRows())[0]?.emails).toBe(PER_DAY);
});

it("a code its address's own limit refuses spends none of the day's budget", async () => {
  const hourly = CODES_PER_HOUR;
  const ask = (to: string) => requestCode(to, String(hourly + 1));
  for (let i = 0; i < hourly; i++) expect((await ask("burst@example.com")).status).toBe(202);

  expect((await ask("burst@example.com")).status).toBe(429);

  expect((await spentRows())[0]?.emails).toBe(hourly);
  expect((await ask("someone-else@example.com")).status).toBe(202);
});

it("a CODE_EMAILS_PER_DAY that is no whole number sends no code", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  const send = vi.spyOn(env.CODES_QUEUE, "send");

  const refused = await requestCode("ada@example.com", "20 a day");

  expect(refused.status).toBe(429);
  expect(send).not.toHaveBeenCalled();
});
