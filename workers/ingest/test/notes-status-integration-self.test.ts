import { reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { STATUS_TTL_SECONDS, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BASE } from "./client.ts";

// Every test starts with empty KV and a full allowance of status polls (these calls carry no address).
afterEach(() => reset());

const SENT = "3b241101-e2bb-4255-8caf-4136c566a962";
const RETRYING = "0f8e2f3a-0000-4000-8000-00000000beef";
const NEVER_SEEN = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/** What deliver writes: ingest must pass on only id, state, attempts, updatedAt and error. */
const records: StatusRecord[] = [
  { id: SENT, state: "sent", attempts: 1, updatedAt: "2026-11-20T10:00:00.000Z", providerId: "re_123" },
  {
    id: RETRYING,
    state: "retrying",
    attempts: 2,
    updatedAt: "2026-11-20T10:01:00.000Z",
    error: "The mail provider answered 503.",
    nextAttemptAt: "2026-11-20T10:02:00.000Z",
  },
];

async function writeRecords() {
  for (const record of records) {
    await env.STATUS.put(statusKey(record.id), JSON.stringify(record), { expirationTtl: STATUS_TTL_SECONDS });
  }
}

function getStatus(id: string) {
  return exports.default.fetch(`${BASE}/v1/notes/${id}`);
}

function postStatus(body: string, contentType = "application/json") {
  return exports.default.fetch(`${BASE}/v1/notes/status`, {
    method: "POST",
    body,
    headers: { "content-type": contentType },
  });
}

describe("GET /v1/notes/:id", () => {
  it("answers the note's state from KV, without provider id or next attempt, never cached, with no token", async () => {
    await writeRecords();

    const sent = await getStatus(SENT);
    const retrying = await getStatus(RETRYING);

    expect(sent.status).toBe(200);
    expect(sent.headers.get("cache-control")).toBe("no-store");
    expect(await sent.json()).toStrictEqual({
      id: SENT,
      state: "sent",
      attempts: 1,
      updatedAt: "2026-11-20T10:00:00.000Z",
    });
    expect(await retrying.json()).toStrictEqual({
      id: RETRYING,
      state: "retrying",
      attempts: 2,
      updatedAt: "2026-11-20T10:01:00.000Z",
      error: "The mail provider answered 503.",
    });
  });

  it("answers 404 not_found, never cached, while deliver has written no record", async () => {
    const response = await getStatus(NEVER_SEEN);
    expect(response.status).toBe(404);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toEqual({ error: "not_found", message: expect.any(String) });
  });

  it.each([
    ["uppercase", SENT.toUpperCase()],
    ["without dashes", SENT.replaceAll("-", "")],
    ["too short", SENT.slice(0, -1)],
    ["braced", `{${SENT}}`],
  ])("answers 400 bad_id for an id that is not a lowercase canonical UUID: %s", async (_, id) => {
    const response = await getStatus(id);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "bad_id", message: expect.any(String) });
  });

  it("answers 500 internal_error, with no detail, when KV fails", async () => {
    vi.spyOn(env.STATUS, "get").mockRejectedValue(new Error("KV GET failed: 500 at /some/internal/path"));
    vi.spyOn(console, "error").mockImplementation(() => {});

    const response = await getStatus(SENT);

    expect(response.status).toBe(500);
    expect(await response.json()).toStrictEqual({
      error: "internal_error",
      message: "Something went wrong on our side.",
    });
  });
});

describe("POST /v1/notes/status", () => {
  it("answers one entry per id in request order, unknown where there is no record, never cached", async () => {
    await writeRecords();

    const response = await postStatus(JSON.stringify({ ids: [NEVER_SEEN, RETRYING, SENT, NEVER_SEEN] }));

    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(await response.json()).toStrictEqual({
      notes: [
        { id: NEVER_SEEN, state: "unknown" },
        {
          id: RETRYING,
          state: "retrying",
          attempts: 2,
          updatedAt: "2026-11-20T10:01:00.000Z",
          error: "The mail provider answered 503.",
        },
        { id: SENT, state: "sent", attempts: 1, updatedAt: "2026-11-20T10:00:00.000Z" },
        { id: NEVER_SEEN, state: "unknown" },
      ],
    });
  });

  it("answers for 100 ids", async () => {
    await writeRecords();
    const ids = Array.from({ length: 100 }, (_, i) => (i === 42 ? SENT : crypto.randomUUID()));

    const response = await postStatus(JSON.stringify({ ids }));

    expect(response.status).toBe(200);
    const { notes } = await response.json<{ notes: { id: string; state: string }[] }>();
    expect(notes.map((note) => note.id)).toEqual(ids);
    expect(notes.filter((note) => note.state !== "unknown").map((note) => note.id)).toEqual([SENT]);
  });

  it.each([
    ["no ids", { ids: [] }],
    ["101 ids", { ids: Array.from({ length: 101 }, () => crypto.randomUUID()) }],
    ["ids not an array", { ids: SENT }],
    ["no ids field", { id: SENT }],
  ])("answers 400 bad_request for %s", async (_, body) => {
    const response = await postStatus(JSON.stringify(body));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "bad_request", message: expect.any(String) });
  });

  it("answers 400 bad_request for a body that is not JSON", async () => {
    const response = await postStatus(`{"ids": ["${SENT}"`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "bad_request", message: expect.any(String) });
  });

  it("answers 400 bad_id naming the first id that is not a lowercase canonical UUID", async () => {
    const response = await postStatus(JSON.stringify({ ids: [SENT, RETRYING.toUpperCase()] }));
    expect(response.status).toBe(400);
    expect(await response.json()).toStrictEqual({
      error: "bad_id",
      message: "ids[1] is not a note id (a lowercase canonical UUID).",
    });
  });

  it("answers 415 unsupported_media_type for a body that is not application/json", async () => {
    const response = await postStatus(JSON.stringify({ ids: [SENT] }), "text/plain");
    expect(response.status).toBe(415);
    expect(await response.json()).toEqual({ error: "unsupported_media_type", message: expect.any(String) });
  });

  it("answers 413 body_too_large before parsing an oversized body", async () => {
    const response = await postStatus(JSON.stringify({ ids: [SENT], padding: "x".repeat(10_000) }));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ error: "body_too_large", message: expect.any(String) });
  });
});
