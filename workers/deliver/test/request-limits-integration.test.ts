/**
 * What a request from anyone can cost the deliver Worker's HTTP side before it is refused: a body
 * is never read past its route's cap, declared or not, and the Svix headers are bounded before any
 * HMAC runs. Called through the Worker's own fetch handler, as ingest's forward reaches it.
 */

import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { countingBody } from "@notepipe/http/testing";
import { describe, expect, it, vi } from "vitest";
import worker from "../src/index.ts";
import { MAX_WEBHOOK_BYTES } from "../src/webhooks/resend.ts";
import { MAX_SVIX_SIGNATURE_CHARS, MAX_SVIX_SIGNATURES } from "../src/webhooks/svix-signature.ts";
import { TEST_OPS_TOKENS, TEST_POSTMARK_CREDENTIALS, TEST_RESEND_WEBHOOK_SECRET } from "./http-config.ts";

const FOUR_MIB = 4 * 1024 * 1024;
const CHUNK = 16 * 1024;
/** The replay route's cap (src/ops/replay-dead-letters.ts). */
const MAX_REPLAY_BYTES = 128 * 1024;
/** 32 zero bytes in base64: a `v1` entry of the right length that verifies nothing. */
const ZERO_MAC = `v1,${new Uint8Array(32).toBase64()}`;
const encoder = new TextEncoder();

async function call(path: string, init: RequestInit): Promise<Response> {
  return await worker.fetch(new Request(`https://deliver.test${path}`, init), env, createExecutionContext());
}

function svixHeaders(signature: string, id = "msg_2zJ1oQ5rSFd6fMmWzDCqOw4kPHS"): Record<string, string> {
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": String(Math.floor(Date.now() / 1000)),
    "svix-signature": signature,
  };
}

async function svixSignature(id: string, timestamp: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.fromBase64(TEST_RESEND_WEBHOOK_SECRET.slice("whsec_".length)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return `v1,${new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`))).toBase64()}`;
}

const bodyRoutes: [route: string, cap: number, headers: Record<string, string>][] = [
  ["/webhooks/resend", MAX_WEBHOOK_BYTES, svixHeaders(ZERO_MAC)],
  [
    "/webhooks/postmark",
    MAX_WEBHOOK_BYTES,
    { "content-type": "application/json", authorization: `Basic ${btoa(TEST_POSTMARK_CREDENTIALS)}` },
  ],
  [
    "/ops/dead-letters/replay",
    MAX_REPLAY_BYTES,
    { "content-type": "application/json", authorization: `Bearer ${TEST_OPS_TOKENS[0]}` },
  ],
];

describe("a body is never read past its route's cap", () => {
  it.each(bodyRoutes)(
    "POST %s, 4 MiB chunked: 413 after the cap and one chunk, the rest never pulled",
    async (path, cap, headers) => {
      const upload = countingBody(FOUR_MIB, CHUNK);

      const response = await call(path, { method: "POST", headers, body: upload.body });

      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        error: "body_too_large",
        message: `The body is at most ${cap} bytes.`,
      });
      expect(upload.pulled()).toBe(cap + CHUNK);
      expect(upload.cancelled()).toBe(true);
    },
  );

  it.each(bodyRoutes)("POST %s declaring 4 MiB: 413 before a byte is read", async (path, cap, headers) => {
    const upload = countingBody(FOUR_MIB, CHUNK);

    const response = await call(path, {
      method: "POST",
      headers: { ...headers, "content-length": String(FOUR_MIB) },
      body: upload.body,
    });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "body_too_large", message: `The body is at most ${cap} bytes.` });
    expect(upload.pulled()).toBe(0);
  });
});

describe("the Svix headers are bounded before any HMAC", () => {
  function spyOnHmac() {
    return [vi.spyOn(crypto.subtle, "sign"), vi.spyOn(crypto.subtle, "verify")] as const;
  }

  it("refuses a 32 KB svix-signature with 401 bad_signature: no HMAC, no body read", async () => {
    const [sign, verify] = spyOnHmac();
    const upload = countingBody(1024);
    const signature = Array.from({ length: 680 }, () => ZERO_MAC).join(" ");
    expect(signature.length).toBeGreaterThan(32_000);

    const response = await call("/webhooks/resend", {
      method: "POST",
      headers: svixHeaders(signature),
      body: upload.body,
    });

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: "bad_signature",
      message: "The webhook signature does not verify.",
    });
    expect(sign).not.toHaveBeenCalled();
    expect(verify).not.toHaveBeenCalled();
    expect(upload.pulled()).toBe(0);
  });

  it(`refuses ${MAX_SVIX_SIGNATURES + 1} entries, short enough for the size cap, before any HMAC`, async () => {
    const [sign, verify] = spyOnHmac();
    const signature = Array.from({ length: MAX_SVIX_SIGNATURES + 1 }, () => ZERO_MAC).join(" ");
    expect(signature.length).toBeLessThanOrEqual(MAX_SVIX_SIGNATURE_CHARS);

    const response = await call("/webhooks/resend", { method: "POST", headers: svixHeaders(signature), body: "{}" });

    expect(response.status).toBe(401);
    expect(sign).not.toHaveBeenCalled();
    expect(verify).not.toHaveBeenCalled();
  });

  it("refuses a svix-id over 256 characters before any HMAC", async () => {
    const [sign, verify] = spyOnHmac();
    const response = await call("/webhooks/resend", {
      method: "POST",
      headers: svixHeaders(ZERO_MAC, `msg_${"x".repeat(300)}`),
      body: "{}",
    });
    expect(response.status).toBe(401);
    expect(sign).not.toHaveBeenCalled();
    expect(verify).not.toHaveBeenCalled();
  });

  it(`accepts ${MAX_SVIX_SIGNATURES} entries with the valid one last, for one HMAC in all`, async () => {
    const body = JSON.stringify({ type: "email.opened", data: {} });
    const headers = svixHeaders("");
    const valid = await svixSignature(headers["svix-id"] as string, headers["svix-timestamp"] as string, body);
    const [sign, verify] = spyOnHmac();
    headers["svix-signature"] = [...Array.from({ length: MAX_SVIX_SIGNATURES - 1 }, () => ZERO_MAC), valid].join(" ");
    vi.spyOn(console, "log").mockImplementation(() => {});

    const response = await call("/webhooks/resend", { method: "POST", headers, body });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true, outcome: "ignored" });
    expect(sign).toHaveBeenCalledTimes(1);
    expect(verify).not.toHaveBeenCalled();
  });
});
