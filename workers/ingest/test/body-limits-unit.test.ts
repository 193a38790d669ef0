/**
 * A body is never read past its route's cap, whether it declares its length or not: what a 4 MiB
 * upload costs ingest before the 413, counted in the bytes the Worker pulled from it. The Worker's
 * fetch handler is called directly, so the stream it reads is the test's own, chunk for chunk.
 */

import { createExecutionContext, reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { MAX_FRAME_BYTES } from "@notepipe/frame";
import { countingBody } from "@notepipe/http/testing";
import { afterEach, describe, expect, it } from "vitest";
import worker from "../src/index.ts";
import { BASE, tokenFor } from "./client.ts";

afterEach(() => reset());

const IncomingRequest = Request<unknown, IncomingRequestCfProperties>;
const FOUR_MIB = 4 * 1024 * 1024;
const CHUNK = 4 * 1024;
/** POST /v1/notes/status's cap (src/routes/post-notes-status.ts). */
const MAX_STATUS_BODY_BYTES = 8192;

async function routes(): Promise<[path: string, cap: number, code: string, headers: Record<string, string>][]> {
  return [
    [
      "/v1/notes",
      MAX_FRAME_BYTES,
      "frame_too_large",
      // A well-formed token with a current kid is all it takes to reach the body: kids are public.
      { "content-type": "application/octet-stream", authorization: `Bearer ${await tokenFor("ada@example.com")}` },
    ],
    ["/v1/notes/status", MAX_STATUS_BODY_BYTES, "body_too_large", { "content-type": "application/json" }],
  ];
}

describe.each(await routes())("POST %s", (path, cap, code, headers) => {
  it("refuses a 4 MiB chunked body with 413 after the cap and one chunk, and cancels the rest", async () => {
    const upload = countingBody(FOUR_MIB, CHUNK);
    const request = new IncomingRequest(`${BASE}${path}`, { method: "POST", headers, body: upload.body });
    expect(request.headers.get("content-length")).toBeNull();

    const response = await worker.fetch(request, env, createExecutionContext());

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: code, message: expect.any(String) });
    expect(upload.pulled()).toBe(cap + CHUNK);
    expect(upload.cancelled()).toBe(true);
  });

  it("refuses a body declaring 4 MiB with 413 before a byte is read", async () => {
    const upload = countingBody(FOUR_MIB, CHUNK);
    const request = new IncomingRequest(`${BASE}${path}`, {
      method: "POST",
      headers: { ...headers, "content-length": String(FOUR_MIB) },
      body: upload.body,
    });

    const response = await worker.fetch(request, env, createExecutionContext());

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: code, message: expect.any(String) });
    expect(upload.pulled()).toBe(0);
  });

  it("refuses a 4 MiB chunked body sent through the runtime, having pulled little more than the cap", async () => {
    const upload = countingBody(FOUR_MIB, CHUNK);

    const response = await exports.default.fetch(`${BASE}${path}`, { method: "POST", headers, body: upload.body });

    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: code, message: expect.any(String) });
    // The runtime's pipe reads a chunk or two ahead of the Worker (72 KiB pulled for /v1/notes here).
    expect(upload.pulled()).toBeLessThanOrEqual(cap + 64 * 1024);
  });
});
