/**
 * Two local providers in one process, as a stack with a primary and a secondary runs them: each on
 * its own port with its own key, inbox, idempotency keys, counters and faults, so that a fault set on
 * one leaves the other as it was.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningLocalProvider, startLocalProvider } from "../src/index.ts";
import { NOTE_ID, postmarkMessage, resendEmail, USER_AGENT } from "./requests.ts";

const PRIMARY_KEY = "re_local_primary";
const SECONDARY_KEY = "pm_local_secondary";

let primary: RunningLocalProvider;
let secondary: RunningLocalProvider;

beforeEach(async () => {
  primary = await startLocalProvider({ name: "primary", port: 0, apiKeys: [PRIMARY_KEY], rateLimitPerSecond: 0 });
  secondary = await startLocalProvider({
    name: "secondary",
    port: 0,
    apiKeys: [SECONDARY_KEY],
    rateLimitPerSecond: 0,
  });
});

afterEach(async () => {
  await Promise.all([primary.close(), secondary.close()]);
});

function sendResend(provider: RunningLocalProvider, key: string, idempotencyKey?: string): Promise<Response> {
  return fetch(`${provider.url}/emails/batch`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      ...(idempotencyKey === undefined ? {} : { "idempotency-key": idempotencyKey }),
    },
    body: JSON.stringify([resendEmail()]),
  });
}

function sendPostmark(provider: RunningLocalProvider, key: string): Promise<Response> {
  return fetch(`${provider.url}/email/batch`, {
    method: "POST",
    headers: { "x-postmark-server-token": key, accept: "application/json", "content-type": "application/json" },
    body: JSON.stringify([postmarkMessage()]),
  });
}

async function setFaults(provider: RunningLocalProvider, faults: object): Promise<void> {
  const res = await fetch(`${provider.url}/_control/faults`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(faults),
  });
  expect(res.status).toBe(200);
}

async function inboxCount(provider: RunningLocalProvider): Promise<number> {
  return ((await (await fetch(`${provider.url}/inbox?note_id=${NOTE_ID}`)).json()) as { count: number }).count;
}

describe("two local providers", () => {
  it("listen on two ports and each accepts its own key only", async () => {
    expect(primary.port).not.toBe(secondary.port);
    expect((await sendResend(primary, SECONDARY_KEY)).status).toBe(403);
    expect((await sendPostmark(secondary, PRIMARY_KEY)).status).toBe(401);
    expect((await sendResend(primary, PRIMARY_KEY)).status).toBe(200);
    expect((await sendPostmark(secondary, SECONDARY_KEY)).status).toBe(200);
  });

  it("keep an inbox and counters each: an email is counted where it was sent", async () => {
    await sendResend(primary, PRIMARY_KEY);
    await sendResend(primary, PRIMARY_KEY);
    await sendPostmark(secondary, SECONDARY_KEY);
    expect(await inboxCount(primary)).toBe(2);
    expect(await inboxCount(secondary)).toBe(1);
    const stats = async (provider: RunningLocalProvider) => (await fetch(`${provider.url}/_control/stats`)).json();
    expect(await stats(primary)).toMatchObject({ name: "primary", requests: 2, emails: 2 });
    expect(await stats(secondary)).toMatchObject({ name: "secondary", requests: 1, emails: 1 });
  });

  it("keep idempotency keys each: the same key at the other provider sends again", async () => {
    const secondaryAsResend = await startLocalProvider({ port: 0, apiKeys: [PRIMARY_KEY], rateLimitPerSecond: 0 });
    try {
      for (const provider of [primary, primary, secondaryAsResend]) {
        expect((await sendResend(provider, PRIMARY_KEY, "batch-1")).status).toBe(200);
      }
      expect(await inboxCount(primary)).toBe(1);
      expect(await inboxCount(secondaryAsResend)).toBe(1);
    } finally {
      await secondaryAsResend.close();
    }
  });

  it("take a refused-connection outage on one: its sends fail with a network error, the other's go on", async () => {
    await setFaults(primary, { outage: "refused" });
    await expect(sendResend(primary, PRIMARY_KEY)).rejects.toThrow(TypeError);
    expect((await sendPostmark(secondary, SECONDARY_KEY)).status).toBe(200);
    expect(await inboxCount(primary)).toBe(0);
    expect(await inboxCount(secondary)).toBe(1);
    expect(await (await fetch(`${secondary.url}/_control/faults`)).json()).toMatchObject({ outage: null });

    await setFaults(primary, {});
    expect((await sendResend(primary, PRIMARY_KEY)).status).toBe(200);
    expect(await inboxCount(primary)).toBe(1);
  });

  it("take a spent quota on one: Resend's 429 there, the other sends", async () => {
    await setFaults(primary, { reject: "daily_quota_exceeded" });
    const refused = await sendResend(primary, PRIMARY_KEY);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toMatchObject({ name: "daily_quota_exceeded" });
    expect((await sendPostmark(secondary, SECONDARY_KEY)).status).toBe(200);
    expect(await inboxCount(primary)).toBe(0);
    expect(await inboxCount(secondary)).toBe(1);
  });
});
