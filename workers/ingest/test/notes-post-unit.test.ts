import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { MAX_FRAME_BYTES } from "@notepipe/frame";
import { expect, it } from "vitest";
import worker from "../src/index.ts";
import { BASE } from "./client.ts";

const IncomingRequest = Request<unknown, IncomingRequestCfProperties>;

/** A body that counts how often the Worker pulls from it. */
function countingBody(bytes: number) {
  const counter = { pulls: 0 };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        counter.pulls++;
        controller.enqueue(new Uint8Array(bytes));
        controller.close();
      },
    },
    // No read ahead: a pull happens only when the Worker reads.
    { highWaterMark: 0 },
  );
  return { body, counter };
}

it("refuses an oversized Content-Length with 413 without reading the body", async () => {
  const { body, counter } = countingBody(MAX_FRAME_BYTES + 1);
  const request = new IncomingRequest(`${BASE}/v1/notes`, {
    method: "POST",
    body,
    headers: { "content-type": "application/octet-stream", "content-length": String(MAX_FRAME_BYTES + 1) },
  });

  const response = await worker.fetch(request, env, createExecutionContext());

  expect(response.status).toBe(413);
  expect(await response.json()).toEqual({ error: "frame_too_large", message: expect.any(String) });
  expect(counter.pulls).toBe(0);
});

it("refuses a request without a token with 401 without reading the body", async () => {
  const { body, counter } = countingBody(100);
  const request = new IncomingRequest(`${BASE}/v1/notes`, {
    method: "POST",
    body,
    headers: { "content-type": "application/octet-stream" },
  });

  const response = await worker.fetch(request, env, createExecutionContext());

  expect(response.status).toBe(401);
  expect(counter.pulls).toBe(0);
});
