import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { BASE, makeNote, tokenFor } from "./client.ts";

const ID = "3b241101-e2bb-4255-8caf-4136c566a962";

it.each(["/", "/v1", "/v1/note", "/v2/notes", `/v1/notes/${ID}/extra`])(
  "answers 404 not_found for %s",
  async (path) => {
    const response = await exports.default.fetch(`${BASE}${path}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "not_found", message: expect.any(String) });
  },
);

it.each([
  ["GET", "/v1/notes", "POST"],
  ["PUT", "/v1/notes", "POST"],
  ["GET", "/v1/notes/status", "POST"],
  ["DELETE", "/v1/notes/status", "POST"],
  ["POST", `/v1/notes/${ID}`, "GET, HEAD"],
  ["DELETE", `/v1/notes/${ID}`, "GET, HEAD"],
])("answers 405 method_not_allowed for %s %s, with Allow: %s", async (method, path, allow) => {
  const response = await exports.default.fetch(`${BASE}${path}`, { method });
  expect(response.status).toBe(405);
  expect(response.headers.get("allow")).toBe(allow);
  expect(await response.json()).toEqual({ error: "method_not_allowed", message: expect.any(String) });
});

it("answers HEAD on a note's status like GET, without a body", async () => {
  const response = await exports.default.fetch(`${BASE}/v1/notes/${ID}`, { method: "HEAD" });
  expect(response.status).toBe(404);
  expect(await response.text()).toBe("");
});

// POST /v1/notes is matched by hand before Hono's router (src/routes/post-note.ts, isPostNote); every
// spelling of the path must still land on the same route, or on the same 404 as before.
it.each([
  ["/v1/notes", "the exact path (the fast path)"],
  ["/v1/notes?client=ios", "a query string (the fast path)"],
  ["/v1/%6Eotes", "a percent-encoded path (through the router)"],
  ["/v1/notes/", "a trailing slash (through the router, which ignores it)"],
])("accepts POST %s: %s", async (path) => {
  const note = makeNote("ada@example.com");
  const response = await exports.default.fetch(`${BASE}${path}`, {
    method: "POST",
    body: note.frame,
    headers: {
      "content-type": "application/octet-stream",
      authorization: `Bearer ${await tokenFor("ada@example.com")}`,
    },
  });
  expect(response.status).toBe(202);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(await response.json()).toEqual({ id: note.id });
});

it.each(["/v1/notesx", "/v1/notes/status/extra", "/V1/NOTES"])(
  "answers POST %s like any unknown path",
  async (path) => {
    const response = await exports.default.fetch(`${BASE}${path}`, { method: "POST" });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: "not_found", message: expect.any(String) });
  },
);

it("answers an error of the fast path as JSON that no cache keeps", async () => {
  const response = await exports.default.fetch(`${BASE}/v1/notes`, { method: "POST" });
  expect(response.status).toBe(415);
  expect(response.headers.get("content-type")).toBe("application/json");
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(await response.json()).toEqual({ error: "unsupported_media_type", message: expect.any(String) });
});
