/**
 * classifyResendResponse over answers shaped like Resend's own: `{statusCode, name, message}` for
 * errors (https://resend.com/docs/api-reference/errors), `{data, errors}` for a permissive batch.
 */

import { describe, expect, it } from "vitest";
import type { ProviderReply } from "../src/providers/provider.ts";
import { classifyResendResponse } from "../src/providers/resend.ts";

function reply(status: number, body: unknown, retryAfterSeconds: number | null = null): ProviderReply {
  return { status, body: typeof body === "string" ? body : JSON.stringify(body), retryAfterSeconds };
}

function error(status: number, name: string, message: string) {
  return { statusCode: status, name, message };
}

describe("a request refused as a whole: every email gets the same outcome", () => {
  it.each([
    // status, name, code, Retry-After, message
    [500, "internal_server_error", "provider_unavailable", null, "An unexpected error occurred."],
    [500, "application_error", "provider_unavailable", null, "An unexpected error occurred."],
    [429, "rate_limit_exceeded", "rate_limited", 1, "Too many requests. You can only make 5 requests per second."],
    [429, "daily_quota_exceeded", "quota_exceeded", null, "You have reached your daily email sending quota."],
    [429, "monthly_quota_exceeded", "quota_exceeded", null, "You have reached your monthly email sending quota."],
    [401, "missing_api_key", "auth_failed", null, "Missing API key in the authorization header."],
    [401, "restricted_api_key", "auth_failed", null, "This API key is restricted to only send emails."],
    [403, "invalid_api_key", "auth_failed", null, "API key is invalid."],
    [
      403,
      "validation_error",
      "sender_not_verified",
      null,
      "The notepipe.dev domain is not verified. Please, add and verify your domain on https://resend.com/domains",
    ],
    [403, "invalid_from_address", "sender_not_verified", null, "Invalid `from` field."],
    [
      409,
      "concurrent_idempotent_requests",
      "request_in_progress",
      null,
      "Same idempotency key used while original request is still in progress.",
    ],
    [
      409,
      "invalid_idempotent_request",
      "possibly_sent",
      null,
      "Same idempotency key used with a different request payload.",
    ],
    [400, "invalid_idempotency_key", "request_invalid", null, "The key must be between 1-256 chars."],
    [400, "validation_error", "request_invalid", null, "We found an error with one or more fields in the request."],
    [
      422,
      "missing_required_field",
      "request_invalid",
      null,
      "The request body is missing one or more required fields.",
    ],
    [422, "invalid_parameter", "request_invalid", null, "Invalid `to` field."],
    [404, "not_found", "request_invalid", null, "The requested endpoint does not exist."],
    [405, "method_not_allowed", "request_invalid", null, "Method is not allowed for the requested path."],
    [451, "security_error", "unexpected_response", null, "We may have found a security issue with the request."],
  ] as const)("%i %s → %s", (status, name, code, retryAfter, message) => {
    const outcomes = classifyResendResponse(reply(status, error(status, name, message), retryAfter), 3);
    expect(outcomes).toHaveLength(3);
    const expected: Record<string, unknown> = { kind: "failed", code, detail: message };
    if (retryAfter !== null) expected.retryAfterSeconds = retryAfter;
    for (const outcome of outcomes) expect(outcome).toEqual(expected);
  });

  it("reads an edge proxy's HTML 502, 503 and 504 as the provider being unavailable", () => {
    for (const status of [502, 503, 504]) {
      const html = `<html><head><title>${status}</title></head><body><h1>Bad Gateway</h1></body></html>`;
      expect(classifyResendResponse(reply(status, html, 30), 1)).toEqual([
        { kind: "failed", code: "provider_unavailable", retryAfterSeconds: 30 },
      ]);
    }
  });

  it("reads a 403 without Resend's JSON as Cloudflare refusing the request before the API saw it", () => {
    // What Cloudflare answers a request without a User-Agent (https://resend.com/docs/knowledge-base/403-error-1010).
    for (const body of ["error code: 1010", "<html><title>Access denied</title><h1>Error 1010</h1></html>"]) {
      expect(classifyResendResponse(reply(403, body), 2)).toEqual(
        Array.from({ length: 2 }, () => ({
          kind: "failed",
          code: "request_invalid",
          detail:
            "Refused in front of the API, before it saw the request (Cloudflare error 1010); a missing User-Agent gets error 1010: check MAIL_USER_AGENT.",
        })),
      );
    }
  });

  it("masks the address Resend's testing-only 403 names", () => {
    const message =
      "You can only send testing emails to your own email address (owner@example.com). To send emails to other recipients, please verify a domain at resend.com/domains, and change the `from` address to an email using this domain.";
    const [outcome] = classifyResendResponse(reply(403, error(403, "validation_error", message)), 1);
    expect(outcome).toMatchObject({ code: "sender_not_verified" });
    expect(JSON.stringify(outcome)).not.toContain("owner@example.com");
    expect(JSON.stringify(outcome)).toContain("(<address>)");
  });

  it("calls a status it does not know an unexpected response", () => {
    expect(classifyResendResponse(reply(302, ""), 1)).toEqual([
      { kind: "failed", code: "unexpected_response", detail: "HTTP 302" },
    ]);
  });
});

describe("a permissive batch: one outcome per email, in request order", () => {
  it("maps every id when all were created", () => {
    const body = {
      data: [{ id: "ae2014de-c168-4c61-8267-70d2662a1ce1" }, { id: "faccb7a5-8a28-4e9a-ac64-8da1cc3bc1cb" }],
    };
    expect(classifyResendResponse(reply(200, body), 2)).toEqual([
      { kind: "accepted", providerId: "ae2014de-c168-4c61-8267-70d2662a1ce1" },
      { kind: "accepted", providerId: "faccb7a5-8a28-4e9a-ac64-8da1cc3bc1cb" },
    ]);
  });

  it("skips the failed indexes when mapping `data` back", () => {
    const body = {
      data: [{ id: "e0" }, { id: "e2" }],
      errors: [
        {
          index: 1,
          message:
            "Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.",
        },
        { index: 3, message: "The `to` field must be an address at a verified domain: bob@bounce.invalid" },
      ],
    };
    expect(classifyResendResponse(reply(200, body), 4)).toEqual([
      { kind: "accepted", providerId: "e0" },
      {
        kind: "failed",
        code: "rejected",
        detail: "Invalid `to` field. The email address needs to follow the `<address>` or `Name <<address>>` format.",
      },
      { kind: "accepted", providerId: "e2" },
      { kind: "failed", code: "rejected", detail: "The `to` field must be an address at a verified domain: <address>" },
    ]);
  });

  it("accepts `errors: null` and a missing `errors`", () => {
    expect(classifyResendResponse(reply(200, { data: [{ id: "e0" }], errors: null }), 1)).toEqual([
      { kind: "accepted", providerId: "e0" },
    ]);
  });

  it.each([
    ["a body that is not JSON", "<html>OK</html>"],
    ["no data", { errors: [] }],
    ["fewer ids than emails", { data: [{ id: "e0" }] }],
    ["an error index out of range", { data: [{ id: "e0" }], errors: [{ index: 7, message: "?" }] }],
    ["an id that is not a string", { data: [{ id: 1 }, { id: "e1" }] }],
  ])("calls every email of an unreadable 2xx possibly sent: %s", (_name, body) => {
    const outcomes = classifyResendResponse(reply(200, body), 2);
    const codes = outcomes.map((outcome) => (outcome.kind === "failed" ? outcome.code : outcome.kind));
    expect(codes).toEqual(
      _name === "an id that is not a string" ? ["possibly_sent", "accepted"] : ["possibly_sent", "possibly_sent"],
    );
  });
});
