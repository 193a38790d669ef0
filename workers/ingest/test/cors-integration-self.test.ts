/** What a browser app on another origin needs from ingest: preflights answered, headers it may read. */

import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE, makeNote, postNote, tokenFor } from "./client.ts";

const ORIGIN = "https://app.example";
const ID = "3b241101-e2bb-4255-8caf-4136c566a962";

function expectCors(response: Response) {
  expect(response.headers.get("access-control-allow-origin")).toBe("*");
  expect(response.headers.get("access-control-expose-headers")).toBe("retry-after");
  // A bearer token is no ambient credential: credentials are never allowed.
  expect(response.headers.get("access-control-allow-credentials")).toBeNull();
}

describe("a preflight", () => {
  it.each(["/v1/notes", "/v1/notes/status", `/v1/notes/${ID}`])(
    "on %s answers 204 with what it allows",
    async (path) => {
      const response = await exports.default.fetch(`${BASE}${path}`, {
        method: "OPTIONS",
        headers: {
          origin: ORIGIN,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type",
        },
      });

      expect(response.status).toBe(204);
      expectCors(response);
      expect(response.headers.get("access-control-allow-methods")).toBe("GET, HEAD, POST");
      expect(response.headers.get("access-control-allow-headers")).toBe(
        "authorization, content-type, notepipe-to, cf-turnstile-response",
      );
      expect(response.headers.get("access-control-max-age")).toBe("86400");
      expect(await response.text()).toBe("");
    },
  );
});

describe("every /v1 answer carries the CORS headers", () => {
  it("the 202 of POST /v1/notes", async () => {
    const note = makeNote("ada@example.com");
    const response = await postNote(note.frame, { token: await tokenFor("ada@example.com") });
    expect(response.status).toBe(202);
    expectCors(response);
  });

  it("an error of POST /v1/notes, so the app can read its Retry-After and its code", async () => {
    const response = await postNote(makeNote("ada@example.com").frame);
    expect(response.status).toBe(401);
    expectCors(response);
  });

  it("GET /v1/notes/:id, a simple request with no preflight", async () => {
    const response = await exports.default.fetch(`${BASE}/v1/notes/${ID}`, { headers: { origin: ORIGIN } });
    expect(response.status).toBe(404);
    expectCors(response);
  });

  it("POST /v1/notes/status", async () => {
    const response = await exports.default.fetch(`${BASE}/v1/notes/status`, {
      method: "POST",
      headers: { origin: ORIGIN, "content-type": "application/json" },
      body: JSON.stringify({ ids: [ID] }),
    });
    expect(response.status).toBe(200);
    expectCors(response);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("a 405 from a /v1 path", async () => {
    const response = await exports.default.fetch(`${BASE}/v1/notes`, { method: "PUT" });
    expect(response.status).toBe(405);
    expectCors(response);
  });
});
