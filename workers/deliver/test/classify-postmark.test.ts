/**
 * classifyPostmarkResponse over answers shaped like Postmark's own: a 200 with one result per
 * message, `{ErrorCode, Message}` for a request refused as a whole
 * (https://postmarkapp.com/developer/api/overview#error-codes).
 */

import { describe, expect, it } from "vitest";
import { classifyPostmarkResponse } from "../src/providers/postmark.ts";
import type { ProviderReply } from "../src/providers/provider.ts";

function reply(status: number, body: unknown, retryAfterSeconds: number | null = null): ProviderReply {
  return { status, body: typeof body === "string" ? body : JSON.stringify(body), retryAfterSeconds };
}

describe("a 200: one outcome per message, in request order", () => {
  it("maps each result by its ErrorCode", () => {
    const body = [
      {
        ErrorCode: 0,
        Message: "OK",
        MessageID: "b7bc2f4a-e38e-4336-af7d-e6c392c2f817",
        SubmittedAt: "2026-11-23T07:00:00Z",
        To: "ada@example.com",
      },
      {
        ErrorCode: 406,
        Message:
          "You tried to send to a recipient that has been marked as inactive. Found inactive addresses: bob@example.com.",
        To: "bob@example.com",
      },
      { ErrorCode: 300, Message: "Error parsing 'To': Illegal email address 'x@'.", To: "x@" },
      {
        ErrorCode: 400,
        Message: "The 'From' address you supplied (notes@notepipe.dev) is not a Sender Signature on your account.",
      },
      { ErrorCode: 300, Message: "Invalid 'From' address: 'notes@notepipe.dev' is not a verified sender signature." },
      { ErrorCode: 429, Message: "Rate limit exceeded." },
      { ErrorCode: 411, Message: "Forbidden attachment type." },
    ];
    expect(classifyPostmarkResponse(reply(200, body), body.length)).toEqual([
      { kind: "accepted", providerId: "b7bc2f4a-e38e-4336-af7d-e6c392c2f817" },
      {
        kind: "failed",
        code: "inactive_recipient",
        detail:
          "You tried to send to a recipient that has been marked as inactive. Found inactive addresses: <address>",
      },
      { kind: "failed", code: "rejected", detail: "Error parsing 'To': Illegal email address '<address>'." },
      {
        kind: "failed",
        code: "sender_not_verified",
        detail: "The 'From' address you supplied (<address>) is not a Sender Signature on your account.",
      },
      {
        kind: "failed",
        code: "sender_not_verified",
        detail: "Invalid 'From' address: '<address>' is not a verified sender signature.",
      },
      { kind: "failed", code: "rate_limited", detail: "Rate limit exceeded." },
      { kind: "failed", code: "rejected", detail: "Forbidden attachment type." },
    ]);
  });

  it.each([
    ["a body that is not JSON", "OK"],
    ["fewer results than messages", [{ ErrorCode: 0, Message: "OK", MessageID: "m0" }]],
  ])("calls every message of an unreadable 200 possibly sent: %s", (_name, body) => {
    const outcomes = classifyPostmarkResponse(reply(200, body), 2);
    expect(outcomes.map((outcome) => (outcome.kind === "failed" ? outcome.code : outcome.kind))).toEqual([
      "possibly_sent",
      "possibly_sent",
    ]);
  });

  it("calls a result with ErrorCode 0 but no MessageID possibly sent", () => {
    expect(classifyPostmarkResponse(reply(200, [{ ErrorCode: 0, Message: "OK" }]), 1)).toEqual([
      { kind: "failed", code: "possibly_sent", detail: "ErrorCode 0 without a MessageID." },
    ]);
  });
});

describe("a request refused as a whole: every message gets the same outcome", () => {
  it.each([
    // status, ErrorCode, code, Message
    [401, 10, "auth_failed", "Request does not contain a valid Server token."],
    [422, 10, "auth_failed", "Bad or missing Server API token."],
    [422, 300, "request_invalid", "Invalid email request."],
    [422, 400, "sender_not_verified", "Sender signature not found."],
    [422, 401, "sender_not_verified", "Sender signature not confirmed."],
    [422, 412, "sender_not_verified", "Account is pending approval."],
    [422, 402, "request_invalid", "Invalid JSON."],
    [422, 410, "request_invalid", "Too many batch messages."],
    [422, 405, "quota_exceeded", "Not allowed to send: you have run out of credits."],
    [422, 413, "quota_exceeded", "Account may not send."],
    [422, 406, "unexpected_response", "Inactive recipient."],
    [422, 999, "unexpected_response", "Something new."],
    [429, 429, "rate_limited", "Rate limit exceeded."],
    [500, 100, "provider_unavailable", "Maintenance."],
  ] as const)("%i with ErrorCode %i → %s", (status, errorCode, code, message) => {
    const outcomes = classifyPostmarkResponse(reply(status, { ErrorCode: errorCode, Message: message }), 2);
    expect(outcomes).toEqual([
      { kind: "failed", code, detail: message },
      { kind: "failed", code, detail: message },
    ]);
  });

  it("takes a 429 without Retry-After or body (Postmark sends none) as a rate limit", () => {
    expect(classifyPostmarkResponse(reply(429, ""), 1)).toEqual([{ kind: "failed", code: "rate_limited" }]);
  });

  it("takes a plain-text 500 or an HTML 503 as the provider being unavailable", () => {
    expect(classifyPostmarkResponse(reply(500, "Internal Server Error"), 1)).toEqual([
      { kind: "failed", code: "provider_unavailable" },
    ]);
    expect(classifyPostmarkResponse(reply(503, "<html><h1>Service Unavailable</h1></html>", 10), 1)).toEqual([
      { kind: "failed", code: "provider_unavailable", retryAfterSeconds: 10 },
    ]);
  });

  it("calls a 4xx without an ErrorCode an unexpected response", () => {
    expect(classifyPostmarkResponse(reply(404, "Not Found"), 1)).toEqual([
      { kind: "failed", code: "unexpected_response", detail: "HTTP 404" },
    ]);
  });
});
