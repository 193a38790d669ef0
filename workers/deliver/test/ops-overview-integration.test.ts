/**
 * The overview as the ops API serves it (GET /ops/overview, ops token only), and the Cron's
 * alerts as a Slack or Discord webhook receives them: once, then not again until something changes.
 */

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sendAlerts } from "../src/alerts/notify.ts";
import type { Overview } from "../src/ledger/overview-types.ts";
import { envWith } from "./ledger.ts";
import { makeNotes, mockProvider, type SeenRequest } from "./notes.ts";
import { deadLetterAsRejected, opsRequest } from "./ops.ts";

describe("GET /ops/overview", () => {
  it("is 401 JSON without an ops token, and with a wrong one", async () => {
    const none = await opsRequest("/ops/overview", { token: null });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: "unauthorized", message: "Send Authorization: Bearer <ops token>." });
    const wrong = await opsRequest("/ops/overview", { token: "ops-not-a-token-0123456789" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: "unauthorized", message: "This ops token is not valid." });
  });

  it("answers the ledger's overview as JSON, never cached", async () => {
    await deadLetterAsRejected(makeNotes(2));

    const res = await opsRequest("/ops/overview");

    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const overview = (await res.json()) as Overview;
    expect(overview.perMinute).toHaveLength(1440);
    expect(overview.perHour).toHaveLength(168);
    expect(overview.deadLetters).toContainEqual({ reason: "rejected", count: 2 });
    expect(overview.perMinute.at(-1)?.failed).toBe(2);
    expect(overview.alerts.map((alert) => alert.kind)).toContain("dead_letter_reason");
  });

  it("is 405 for any other method", async () => {
    const res = await opsRequest("/ops/overview", { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

const WEBHOOK = "https://hooks.example.test/services/T000/B000/secret";

describe("the Cron's alerts", () => {
  it("posts a body Slack and Discord both read, once, and nothing on the next run", async () => {
    await deadLetterAsRejected(makeNotes(1));
    const withWebhook = envWith({ OPS_ALERT_WEBHOOK_URL: WEBHOOK } as Partial<Env>);
    const seen: SeenRequest[] = mockProvider(new Response("ok"));

    expect(await sendAlerts(withWebhook)).toBe(1);
    expect(seen.map((request) => request.url)).toEqual([WEBHOOK]);
    const body = seen[0]?.body as { text: string; content: string };
    expect(body.text).toBe(body.content);
    expect(body.text).toMatch(/^notepipe ALERT \(dead_letter_reason\): New dead-letter reason: rejected \(\d+\)\./);

    // Sent and confirmed: the next run asks the ledger and posts nothing.
    expect(await sendAlerts(withWebhook)).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it("asks nothing of the ledger when no webhook and no address is set", async () => {
    expect(env.OPS_ALERT_TO).toBe("");
    expect(await sendAlerts(env)).toBe(0);
  });
});
