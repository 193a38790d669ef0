/**
 * The siteverify stand-in (test/siteverify-stand-in.ts) answers each rule of its table as
 * Cloudflare's documentation says siteverify does: the ingest tests are only as strict as it is.
 */

import { describe, expect, it } from "vitest";
import { ALREADY_SPENT, ALWAYS_FAILS, ALWAYS_PASSES, DUMMY_TOKEN, SiteverifyStandIn } from "./siteverify-stand-in.ts";

const SECRET = "0x4AAAAAAAtest-secret-key-of-the-widget";
const URL = "https://siteverify.test/turnstile/v0/siteverify";

/** What siteverify answers: `success` always, `error-codes` a list (empty on success). */
interface Answer {
  success: boolean;
  "error-codes": string[];
}

async function verify(standIn: SiteverifyStandIn, body: BodyInit, type = "application/json") {
  const response = await standIn.fetch(new Request(URL, { method: "POST", headers: { "content-type": type }, body }));
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    body: (await response.json()) as Answer,
  };
}

const json = (fields: Record<string, string>) => JSON.stringify(fields);
const refused = (code: string) => ({ success: false, "error-codes": [code] });

describe("siteverify stand-in", () => {
  it("passes a token its widget issued, once, answering JSON", async () => {
    const standIn = new SiteverifyStandIn({ secrets: [SECRET] });
    const token = standIn.solve(SECRET);
    const first = await verify(standIn, json({ secret: SECRET, response: token, remoteip: "203.0.113.1" }));
    expect(first).toMatchObject({ status: 200, type: "application/json", body: { success: true, "error-codes": [] } });
    expect((await verify(standIn, json({ secret: SECRET, response: token }))).body).toEqual(
      refused("timeout-or-duplicate"),
    );
  });

  it("reads a form-encoded body as well", async () => {
    const standIn = new SiteverifyStandIn({ secrets: [SECRET] });
    const form = new URLSearchParams({ secret: SECRET, response: standIn.solve(SECRET) }).toString();
    expect((await verify(standIn, form, "application/x-www-form-urlencoded")).body.success).toBe(true);
  });

  it("answers a retry with the first answer when it carries the same idempotency_key", async () => {
    const standIn = new SiteverifyStandIn({ secrets: [SECRET] });
    const token = standIn.solve(SECRET);
    const body = json({ secret: SECRET, response: token, idempotency_key: crypto.randomUUID() });
    expect((await verify(standIn, body)).body.success).toBe(true);
    expect((await verify(standIn, body)).body.success).toBe(true);
    const otherKey = json({ secret: SECRET, response: token, idempotency_key: crypto.randomUUID() });
    expect((await verify(standIn, otherKey)).body).toEqual(refused("timeout-or-duplicate"));
  });

  it.each([
    ["no secret", json({ response: "t" }), "missing-input-secret"],
    ["a secret it does not know", json({ secret: "0x4AAAAAAAother", response: "t" }), "invalid-input-secret"],
    ["no response", json({ secret: SECRET }), "missing-input-response"],
    [
      "a response over 2,048 characters",
      json({ secret: SECRET, response: "x".repeat(2049) }),
      "invalid-input-response",
    ],
    ["a response its widget never issued", json({ secret: SECRET, response: "0.forged" }), "invalid-input-response"],
    [
      "the dummy token under a production secret",
      json({ secret: SECRET, response: DUMMY_TOKEN }),
      "invalid-input-response",
    ],
    ["a body that is not JSON", "{secret:", "bad-request"],
  ])("refuses %s", async (_, body, code) => {
    const standIn = new SiteverifyStandIn({ secrets: [SECRET] });
    expect(await verify(standIn, body)).toMatchObject({ status: 200, body: refused(code) });
  });

  it("refuses another media type (bad-request) and another method (405)", async () => {
    const standIn = new SiteverifyStandIn({ secrets: [SECRET] });
    expect((await verify(standIn, json({ secret: SECRET, response: "t" }), "text/plain")).body).toEqual(
      refused("bad-request"),
    );
    expect((await standIn.fetch(new Request(URL))).status).toBe(405);
  });

  it("refuses a token 300 s after it was issued", async () => {
    let now = 0;
    const standIn = new SiteverifyStandIn({ secrets: [SECRET], now: () => now });
    const [fresh, stale] = [standIn.solve(SECRET), standIn.solve(SECRET)];
    now = 300_000;
    expect((await verify(standIn, json({ secret: SECRET, response: fresh }))).body.success).toBe(true);
    now = 300_001;
    expect((await verify(standIn, json({ secret: SECRET, response: stale }))).body).toEqual(
      refused("timeout-or-duplicate"),
    );
  });

  it("answers Cloudflare's test secret keys as documented", async () => {
    const standIn = new SiteverifyStandIn();
    const passes = json({ secret: ALWAYS_PASSES, response: DUMMY_TOKEN });
    expect((await verify(standIn, passes)).body.success).toBe(true);
    expect((await verify(standIn, passes)).body.success).toBe(true);
    expect((await verify(standIn, json({ secret: ALWAYS_PASSES, response: "0.real-token" }))).body).toEqual(
      refused("invalid-input-response"),
    );
    expect((await verify(standIn, json({ secret: ALWAYS_FAILS, response: DUMMY_TOKEN }))).body).toEqual(
      refused("invalid-input-response"),
    );
    expect((await verify(standIn, json({ secret: ALREADY_SPENT, response: DUMMY_TOKEN }))).body).toEqual(
      refused("timeout-or-duplicate"),
    );
  });
});
