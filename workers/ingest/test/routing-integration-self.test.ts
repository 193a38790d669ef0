import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { BASE } from "./client.ts";

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
