import { describe, expect, it } from "vitest";
import { confirmCode, type IngestConnection, NotepipeError, requestCode } from "../src/index.ts";
import { type Answer, apiError, fakeIngest, json } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";

function setup(answers: Answer[]) {
  const ingest = fakeIngest(answers);
  const config: IngestConnection = { endpoint: ENDPOINT, fetch: ingest.fetch, sleep: ingest.sleep };
  return { ...ingest, config };
}

async function failure(promise: Promise<unknown>): Promise<NotepipeError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof NotepipeError)) throw new Error(`expected a NotepipeError, got ${String(error)}`);
  return error;
}

const decoder = new TextDecoder();

describe("requestCode", () => {
  it("POSTs {to} as JSON to /v1/tokens/code and resolves on 202", async () => {
    const { config, requests } = setup([json(202, { status: "sent" })]);

    await requestCode(config, "ada@example.com");

    expect(requests).toHaveLength(1);
    expect(requests[0]?.url).toBe(`${ENDPOINT}/v1/tokens/code`);
    expect(requests[0]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(decoder.decode(requests[0]?.body))).toEqual({ to: "ada@example.com" });
  });

  it("refuses an address the frame's rule refuses without a request", async () => {
    const { config, requests } = setup([]);
    const error = await failure(requestCode(config, "ada@localhost"));
    expect([error.code, error.retryable]).toEqual(["bad_recipient", false]);
    expect(requests).toEqual([]);
  });

  it("throws the server's rate_limited with retryAfterMs when the wait is past maxDelayMs", async () => {
    const { config } = setup([apiError(429, "rate_limited", "Too many codes.", { "retry-after": "3400" })]);
    const error = await failure(requestCode(config, "ada@example.com"));
    expect([error.code, error.status, error.retryable, error.retryAfterMs]).toEqual([
      "rate_limited",
      429,
      true,
      3_400_000,
    ]);
  });

  it("sends a Turnstile token as CF-Turnstile-Response and makes one attempt, as siteverify accepts a token once", async () => {
    const { config, requests } = setup([apiError(503, "turnstile_unavailable", "Try again.", { "retry-after": "10" })]);
    const error = await failure(requestCode(config, "ada@example.com", { turnstileToken: "XXXX.DUMMY.TOKEN" }));
    expect([error.code, error.status, error.retryable]).toEqual(["turnstile_unavailable", 503, true]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.headers["cf-turnstile-response"]).toBe("XXXX.DUMMY.TOKEN");
    expect(JSON.parse(decoder.decode(requests[0]?.body))).toEqual({ to: "ada@example.com" });
  });

  it("throws enrollment_closed, not retried", async () => {
    const { config, requests } = setup([apiError(403, "enrollment_closed", "Closed.")]);
    const error = await failure(requestCode(config, "ada@example.com"));
    expect([error.code, error.status, error.retryable]).toEqual(["enrollment_closed", 403, false]);
    expect(requests).toHaveLength(1);
  });
});

describe("confirmCode", () => {
  it("POSTs {to, code} without the spaces a user typed and answers the token", async () => {
    const { config, requests } = setup([json(200, { token: "np1.dev.x", to: "ada@example.com" })]);

    expect(await confirmCode(config, "ada@example.com", " 048 213 ")).toBe("np1.dev.x");
    expect(requests[0]?.url).toBe(`${ENDPOINT}/v1/tokens`);
    expect(JSON.parse(decoder.decode(requests[0]?.body))).toEqual({ to: "ada@example.com", code: "048213" });
  });

  it("throws invalid_code once, not retried", async () => {
    const { config, requests } = setup([apiError(400, "invalid_code", "Wrong or expired.")]);
    const error = await failure(confirmCode(config, "ada@example.com", "000000"));
    expect([error.code, error.status, error.retryable]).toEqual(["invalid_code", 400, false]);
    expect(requests).toHaveLength(1);
  });

  it("throws unexpected_response for a 200 without a token", async () => {
    const { config } = setup([json(200, { hello: "proxy" })]);
    expect((await failure(confirmCode(config, "ada@example.com", "048213"))).code).toBe("unexpected_response");
  });
});
