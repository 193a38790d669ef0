/**
 * /ops/* and /webhooks/* belong to the deliver Worker: ingest forwards them over the DELIVER
 * service binding as they came (method, path, query, headers, body), and nothing else.
 */

import { exports } from "cloudflare:workers";
import { expect, it } from "vitest";
import { BASE } from "./client.ts";

it.each([
  ["GET", "/ops/dead-letters?reason=rejected&limit=10", undefined],
  ["POST", "/ops/dead-letters/replay", '{"all":true}'],
  ["DELETE", "/ops/dead-letters/3b241101-e2bb-4255-8caf-4136c566a962", undefined],
  ["POST", "/webhooks/resend", '{"type":"email.delivered"}'],
])("forwards %s %s to the deliver Worker unchanged", async (method, path, body) => {
  const response = await exports.default.fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: "Bearer ops-token" },
    ...(body === undefined ? {} : { body }),
  });
  expect(response.status).toBe(299);
  expect(await response.json()).toEqual({
    method,
    url: `${BASE}${path}`,
    authorization: "Bearer ops-token",
    body: body ?? "",
  });
});

it.each(["/ops", "/webhooks", "/opsx/stats", "/v1/ops/stats"])("does not forward %s", async (path) => {
  const response = await exports.default.fetch(`${BASE}${path}`);
  expect(response.status).toBe(404);
  expect(await response.json()).toEqual({ error: "not_found", message: "No route matches this path." });
});
