/**
 * The ops API (/ops) inside workerd, called on its Hono sub-app against the test's KV: who gets in,
 * what a listing shows and hides, how it pages, what a replay puts back on the queue (once), what
 * a discard leaves behind, and what the counts say.
 */

import { env, exports } from "cloudflare:workers";
import { deadLetterKey, type StatusMetadata, statusKey } from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import { parseOpsTokens } from "../src/ops/auth.ts";
import { maskRecipient } from "../src/ops/list-dead-letters.ts";
import { MAX_REPLAY_PER_REQUEST, REPLAY_DELAY_SECONDS } from "../src/ops/replay-dead-letters.ts";
import { putRecord } from "../src/status-store.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import {
  byId,
  deadLetterOf,
  makeNote,
  makeNotes,
  mockProvider,
  recordOf,
  resendAccepted,
  runQueue,
  type TestMessage,
} from "./notes.ts";
import {
  envWith,
  OPS_TOKEN,
  opsRequest,
  postJson,
  recordingQueue,
  type SentBatch,
  seedDeadLetter,
  TEN_MINUTES_AGO,
} from "./ops.ts";

const ROUTES: [method: string, path: string][] = [
  ["GET", "/ops/dead-letters"],
  ["POST", "/ops/dead-letters/replay"],
  ["DELETE", "/ops/dead-letters/3b241101-e2bb-4255-8caf-4136c566a962"],
  ["GET", "/ops/stats"],
  ["GET", "/ops/no-such-route"],
];

async function errorOf(res: Response): Promise<{ status: number; error: string; message: string }> {
  const body = (await res.json()) as { error: string; message: string };
  return { status: res.status, ...body };
}

describe("ops auth", () => {
  it.each(ROUTES)("%s %s without a token is 401 JSON naming the Bearer scheme", async (method, path) => {
    const res = await opsRequest(path, { method, token: null });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="notepipe-ops"');
    expect(await res.json()).toEqual({ error: "unauthorized", message: "Send Authorization: Bearer <ops token>." });
  });

  it.each(ROUTES)("%s %s with a wrong token is 401", async (method, path) => {
    const res = await opsRequest(path, { method, token: "ops-test-token-2026a-0123456788" });
    expect(await errorOf(res)).toEqual({ status: 401, error: "unauthorized", message: "This ops token is not valid." });
  });

  it("refuses a client token of the ingest Worker, and another scheme", async () => {
    const clientToken = "np1.dev.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    expect((await opsRequest("/ops/stats", { token: clientToken })).status).toBe(401);
    const basic = await opsRequest("/ops/stats", {
      token: null,
      headers: { authorization: `Basic ${btoa(`ops:${OPS_TOKEN}`)}` },
    });
    expect(await errorOf(basic)).toMatchObject({
      status: 401,
      message: "The Authorization header must be Bearer <ops token>.",
    });
  });

  it("lets in each current token, as during a rotation", async () => {
    for (const token of TEST_OPS_TOKENS) {
      expect((await opsRequest("/ops/stats", { token })).status).toBe(200);
    }
  });

  it("answers 503 not_configured, not 401, when OPS_TOKENS holds no usable token", async () => {
    for (const secret of ["", "[]", "short", "[1, 2]", "not json ["]) {
      const res = await opsRequest("/ops/stats", {}, envWith({ OPS_TOKENS: secret }));
      expect((await errorOf(res)).error).toBe("not_configured");
      expect(res.status).toBe(503);
    }
  });

  it("reads OPS_TOKENS as a JSON array or a comma/space separated list", () => {
    const [a, b] = TEST_OPS_TOKENS;
    expect(parseOpsTokens(JSON.stringify([a, b]))).toEqual([a, b]);
    expect(parseOpsTokens(`${a}, ${b}`)).toEqual([a, b]);
    expect(parseOpsTokens(` ${a}\n${b} `)).toEqual([a, b]);
    expect(parseOpsTokens(`${a},short`)).toBeNull();
    expect(parseOpsTokens(undefined)).toBeNull();
  });

  it("is wired into the deliver Worker's fetch handler", async () => {
    const res = await exports.default.fetch("https://deliver.test/ops/stats", {
      headers: { authorization: `Bearer ${OPS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const unknown = await exports.default.fetch("https://deliver.test/elsewhere");
    expect(await errorOf(unknown)).toEqual({ status: 404, error: "not_found", message: "No route matches this path." });
  });
});

describe("GET /ops/dead-letters", () => {
  it("shows each entry's reason, counts and times, the recipient masked, and never the frame", async () => {
    const note = makeNote("jane.doe@example.com");
    const letter = await seedDeadLetter(note, { possiblySent: true, replayedAt: 1_790_000_500_000 });

    const res = await opsRequest(`/ops/dead-letters?reason=sender_not_verified&limit=1000`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    const { deadLetters } = JSON.parse(text) as { deadLetters: { id: string }[] };
    expect(deadLetters.find((entry) => entry.id === note.id)).toEqual({
      id: note.id,
      reason: "sender_not_verified",
      message: letter.message,
      attempts: 11,
      firstFailureAt: letter.firstFailureAt,
      lastFailureAt: letter.lastFailureAt,
      possiblySent: true,
      recipient: "j***@example.com",
      acceptedAt: new Date(1_790_000_000_000).toISOString(),
      replayedAt: new Date(1_790_000_500_000).toISOString(),
    });
    expect(text).not.toContain(letter.frame);
    expect(text).not.toContain("jane.doe");
    expect(text).not.toContain(note.ciphertext.toBase64());
  });

  it("masks every address to its first character and domain", () => {
    expect(maskRecipient("jane@example.com")).toBe("j***@example.com");
    expect(maskRecipient("j@example.com")).toBe("j***@example.com");
    expect(maskRecipient("o'brien+tag@mail.example.org")).toBe("o***@mail.example.org");
  });

  it("shows null for a recipient it cannot read from a damaged frame", async () => {
    const note = makeNote();
    await seedDeadLetter(note, { reason: "undecodable", frame: "TlAB" });
    const { deadLetters } = (await (await opsRequest("/ops/dead-letters?reason=undecodable")).json()) as {
      deadLetters: { id: string; recipient: string | null }[];
    };
    expect(deadLetters.find((entry) => entry.id === note.id)?.recipient).toBeNull();
  });

  it("pages through every entry with the cursor, each once", async () => {
    const notes = makeNotes(5);
    for (const note of notes) await seedDeadLetter(note, { reason: "quota_exceeded" });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `reason=quota_exceeded&limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
      const page = (await (await opsRequest(`/ops/dead-letters?${query}`)).json()) as {
        deadLetters: { id: string }[];
        cursor: string | null;
      };
      expect(page.deadLetters.length).toBeLessThanOrEqual(2);
      seen.push(...page.deadLetters.map((entry) => entry.id));
      cursor = page.cursor;
      pages++;
    } while (cursor !== null && pages < 20);

    expect(cursor).toBeNull();
    expect(pages).toBeGreaterThanOrEqual(3);
    expect([...seen].sort()).toEqual(notes.map((note) => note.id).sort());
  });

  it("filters by reason and by the time of the last failure", async () => {
    const [old, recent] = [makeNote(), makeNote()];
    await seedDeadLetter(old, { reason: "auth_failed", lastFailureAt: "2026-01-01T00:00:00.000Z" });
    await seedDeadLetter(recent, { reason: "auth_failed", lastFailureAt: "2026-06-01T00:00:00.000Z" });

    const list = async (query: string) =>
      ((await (await opsRequest(`/ops/dead-letters?${query}`)).json()) as { deadLetters: { id: string }[] }).deadLetters
        .map((entry) => entry.id)
        .filter((id) => id === old.id || id === recent.id);

    expect((await list("reason=auth_failed&limit=1000")).sort()).toEqual([old.id, recent.id].sort());
    expect(await list("reason=auth_failed&since=2026-03-01T00:00:00Z&limit=1000")).toEqual([recent.id]);
    expect(await list("reason=rejected&limit=1000")).toEqual([]);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["reason=no_such_reason", "reason"],
    ["since=yesterday", "since"],
    ["colour=blue", "colour"],
  ])("refuses ?%s with 400 naming %s", async (query, field) => {
    const res = await opsRequest(`/ops/dead-letters?${query}`);
    const error = await errorOf(res);
    expect(error).toMatchObject({ status: 400, error: "bad_request" });
    expect(error.message).toContain(field === "colour" ? "Unrecognized key" : `${field}:`);
  });

  it("answers 405 with Allow for another method", async () => {
    const res = await opsRequest("/ops/dead-letters", { method: "PUT" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});

/** Every message of every recorded sendBatch, with the batch's options. */
function sentMessages(batches: SentBatch[]) {
  return batches.flatMap((batch) => batch.messages.map((message) => ({ ...message, options: batch.options })));
}

describe("POST /ops/dead-letters/replay", () => {
  it("puts each note back on the queue as v8 with replayedAt, sets it queued, and deletes its entry", async () => {
    const notes = makeNotes(3);
    for (const note of notes) await seedDeadLetter(note);
    const { queue, batches } = recordingQueue();
    const before = Date.now();

    const res = await postJson(
      "/ops/dead-letters/replay",
      { ids: notes.map((note) => note.id) },
      envWith({ NOTES_QUEUE: queue }),
    );

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      replayed: 3,
      skipped: 0,
      failed: 0,
      results: notes.map((note) => ({ id: note.id, outcome: "replayed" })),
    });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.options).toEqual({ delaySeconds: REPLAY_DELAY_SECONDS });
    const messages = sentMessages(batches);
    expect(messages.map((message) => message.contentType)).toEqual(["v8", "v8", "v8"]);
    for (const [i, note] of notes.entries()) {
      const body = messages[i]?.body;
      expect(body?.frame).toEqual(note.frame);
      expect(body?.acceptedAt).toBe(1_790_000_000_000);
      expect(body?.replayedAt).toBeGreaterThanOrEqual(before);
      expect(await deadLetterOf(note.id)).toBeNull();
      expect(await recordOf(note.id)).toEqual({
        id: note.id,
        state: "queued",
        attempts: 11,
        updatedAt: new Date(body?.replayedAt as number).toISOString(),
      });
      const { metadata } = await env.STATUS.getWithMetadata<StatusMetadata>(statusKey(note.id));
      expect(metadata).toEqual({ state: "queued" });
    }
  });

  it("replayed twice sends each note once, and deliver mails each once", async () => {
    const notes = makeNotes(2);
    for (const note of notes) await seedDeadLetter(note);
    const { queue, batches } = recordingQueue();
    const environment = envWith({ NOTES_QUEUE: queue });
    const ids = notes.map((note) => note.id);

    const first = await (await postJson("/ops/dead-letters/replay", { ids }, environment)).json();
    const second = await (await postJson("/ops/dead-letters/replay", { ids }, environment)).json();

    expect(first).toMatchObject({ replayed: 2, skipped: 0, failed: 0 });
    expect(second).toEqual({
      replayed: 0,
      skipped: 2,
      failed: 0,
      results: ids.map((id) => ({ id, outcome: "skipped", reason: "not_found" })),
    });
    expect(sentMessages(batches)).toHaveLength(2);

    // What deliver makes of the replayed messages: one request, one email per note, state sent.
    const requests = mockProvider(resendAccepted);
    const messages: TestMessage[] = sentMessages(batches).map((message, i) => ({
      id: `replay-${i}`,
      timestamp: new Date(),
      attempts: 1,
      body: message.body,
    }));
    const result = await runQueue("notes", messages);
    expect(result.explicitAcks.sort()).toEqual(messages.map((message) => message.id).sort());
    expect(requests).toHaveLength(1);
    expect(((requests[0]?.body ?? []) as { to: string[] }[]).map((email) => email.to[0])).toEqual(
      byId(notes).map((note) => note.recipient),
    );
    for (const note of notes) expect(await recordOf(note.id)).toMatchObject({ state: "sent" });

    // And a third replay, now that they are sent, still sends nothing.
    const third = await (await postJson("/ops/dead-letters/replay", { ids }, environment)).json();
    expect(third).toMatchObject({ replayed: 0, skipped: 2 });
    expect(sentMessages(batches)).toHaveLength(2);
  });

  it("skips a note already sent (deleting its stale entry), one already queued, and one that cannot decode", async () => {
    const [sent, queued, broken] = makeNotes(3);
    if (!sent || !queued || !broken) throw new Error("three notes");
    await seedDeadLetter(sent, {}, { state: "delivered", providerId: "re_1" });
    await seedDeadLetter(queued, {}, { state: "queued" });
    await seedDeadLetter(broken, { reason: "undecodable", frame: "TlABAA==" }, { state: "failed" });
    const { queue, batches } = recordingQueue();

    const res = await postJson(
      "/ops/dead-letters/replay",
      { ids: [sent.id, queued.id, broken.id] },
      envWith({ NOTES_QUEUE: queue }),
    );

    expect(await res.json()).toEqual({
      replayed: 0,
      skipped: 3,
      failed: 0,
      results: [
        { id: sent.id, outcome: "skipped", reason: "already_sent" },
        { id: queued.id, outcome: "skipped", reason: "already_queued" },
        { id: broken.id, outcome: "skipped", reason: "undecodable" },
      ],
    });
    expect(batches).toHaveLength(0);
    expect(await deadLetterOf(sent.id)).toBeNull();
    expect(await recordOf(sent.id)).toMatchObject({ state: "delivered" });
    expect(await deadLetterOf(queued.id)).not.toBeNull();
    expect(await deadLetterOf(broken.id)).not.toBeNull();
  });

  it("counts a refused send as failed and leaves the entry and the state as they were", async () => {
    const note = makeNote();
    await seedDeadLetter(note);
    const { queue } = recordingQueue({ fail: true });
    const recordBefore = await recordOf(note.id);

    const res = await postJson("/ops/dead-letters/replay", { ids: [note.id] }, envWith({ NOTES_QUEUE: queue }));

    expect(await res.json()).toEqual({
      replayed: 0,
      skipped: 0,
      failed: 1,
      results: [{ id: note.id, outcome: "failed", reason: "queue_unavailable" }],
    });
    expect(await deadLetterOf(note.id)).not.toBeNull();
    expect(await recordOf(note.id)).toEqual(recordBefore);
  });

  it("sends at most 100 messages per sendBatch call", async () => {
    const notes = makeNotes(150);
    await Promise.all(notes.map((note) => seedDeadLetter(note, { reason: "request_invalid" })));
    const { queue, batches } = recordingQueue();

    const res = await postJson(
      "/ops/dead-letters/replay",
      { ids: notes.map((note) => note.id) },
      envWith({ NOTES_QUEUE: queue }),
    );

    expect(await res.json()).toMatchObject({ replayed: 150, skipped: 0, failed: 0 });
    expect(batches.map((batch) => batch.messages.length)).toEqual([100, 50]);
  });

  it("handles at most 300 ids per request and answers the rest as remaining", async () => {
    const ids = Array.from({ length: MAX_REPLAY_PER_REQUEST + 5 }, () => crypto.randomUUID());
    const { queue } = recordingQueue();

    const body = (await (
      await postJson("/ops/dead-letters/replay", { ids }, envWith({ NOTES_QUEUE: queue }))
    ).json()) as {
      skipped: number;
      results: unknown[];
      remaining: string[];
    };

    expect(body.skipped).toBe(MAX_REPLAY_PER_REQUEST);
    expect(body.results).toHaveLength(MAX_REPLAY_PER_REQUEST);
    expect(body.remaining).toEqual(ids.slice(MAX_REPLAY_PER_REQUEST));
  });

  it("replays every entry with {all: true}, and only the matching ones with since and reason", async () => {
    const [early, late, other] = makeNotes(3);
    if (!early || !late || !other) throw new Error("three notes");
    await seedDeadLetter(early, { reason: "config_invalid", lastFailureAt: "2026-02-01T00:00:00.000Z" });
    await seedDeadLetter(late, { reason: "config_invalid", lastFailureAt: "2026-04-01T00:00:00.000Z" });
    await seedDeadLetter(other, { reason: "rate_limited", lastFailureAt: "2026-04-01T00:00:00.000Z" });
    const { queue, batches } = recordingQueue();
    const environment = envWith({ NOTES_QUEUE: queue });

    const filtered = await postJson(
      "/ops/dead-letters/replay",
      { since: "2026-03-01T00:00:00Z", reason: "config_invalid" },
      environment,
    );
    const filteredBody = (await filtered.json()) as { replayed: number; cursor: string | null };
    expect(filteredBody).toMatchObject({ replayed: 1, cursor: null });
    expect(sentMessages(batches).map((message) => message.body.frame)).toEqual([late.frame]);

    let body: { cursor: string | null; results: { id: string; outcome: string }[] };
    const replayedIds: string[] = [];
    let cursor: string | null = null;
    do {
      body = (await (
        await postJson("/ops/dead-letters/replay", { all: true, ...(cursor ? { cursor } : {}) }, environment)
      ).json()) as typeof body;
      replayedIds.push(...body.results.filter((result) => result.outcome === "replayed").map((result) => result.id));
      cursor = body.cursor;
    } while (cursor !== null);
    expect(replayedIds).toEqual(expect.arrayContaining([early.id, other.id]));
    expect(replayedIds).not.toContain(late.id);
    expect(await deadLetterOf(early.id)).toBeNull();
    expect(await deadLetterOf(other.id)).toBeNull();
  });

  it.each([
    ["not JSON", "{ids: [", "Invalid body"],
    ["an empty object", "{}", "give exactly one of"],
    ["two forms at once", JSON.stringify({ all: true, ids: ["3b241101-e2bb-4255-8caf-4136c566a962"] }), "exactly one"],
    ["all: false", JSON.stringify({ all: false }), "all:"],
    ["an unknown field", JSON.stringify({ all: true, force: true }), "Unrecognized key"],
    ["an id that is not one", JSON.stringify({ ids: ["../note:x"] }), "not a dead-letter id"],
    ["no ids", JSON.stringify({ ids: [] }), "ids:"],
    ["a cursor with ids", JSON.stringify({ ids: ["3b241101-e2bb-4255-8caf-4136c566a962"], cursor: "x" }), "cursor:"],
    ["a bad time", JSON.stringify({ since: "last tuesday" }), "since:"],
    ["a bad reason", JSON.stringify({ reason: "bored" }), "reason:"],
  ])("refuses %s with 400", async (_what, body, fragment) => {
    const res = await opsRequest("/ops/dead-letters/replay", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const error = await errorOf(res);
    expect(error).toMatchObject({ status: 400, error: "bad_request" });
    expect(error.message).toContain(
      fragment === "Invalid body" && body.startsWith("{ids") ? "not valid JSON" : fragment,
    );
  });

  it("refuses more than 1,000 ids with 400, and a body that is not JSON with 415", async () => {
    const ids = Array.from({ length: 1001 }, () => crypto.randomUUID());
    const tooMany = await errorOf(await postJson("/ops/dead-letters/replay", { ids }));
    expect(tooMany).toMatchObject({ status: 400, error: "bad_request" });
    expect(tooMany.message).toContain("at most 1000 ids per request");

    const form = await opsRequest("/ops/dead-letters/replay", { method: "POST", body: "all=true" });
    expect(await errorOf(form)).toMatchObject({ status: 415, error: "unsupported_media_type" });
  });
});

describe("DELETE /ops/dead-letters/:id", () => {
  it("discards the entry and leaves the note failed, saying it was discarded and why it had failed", async () => {
    const note = makeNote();
    const letter = await seedDeadLetter(note);

    const res = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: note.id, discarded: true, state: "failed" });
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toEqual({
      id: note.id,
      state: "failed",
      attempts: 11,
      updatedAt: expect.any(String),
      error: `An operator discarded this note's dead letter. It had failed: ${letter.message}`,
      errorCode: "discarded",
      firstFailureAt: letter.firstFailureAt,
    });
  });

  it("answers 404 for an id with no entry, 400 for a malformed id", async () => {
    const missing = await opsRequest(`/ops/dead-letters/${crypto.randomUUID()}`, { method: "DELETE" });
    expect(await errorOf(missing)).toEqual({
      status: 404,
      error: "dead_letter_not_found",
      message: "No dead letter has this id.",
    });
    const malformed = await opsRequest("/ops/dead-letters/NOT-AN-ID", { method: "DELETE" });
    expect(await errorOf(malformed)).toMatchObject({ status: 400, error: "bad_request" });
  });

  it("never moves a sent note back: its stale entry goes, its state stays", async () => {
    const note = makeNote();
    await seedDeadLetter(note, {}, { state: "sent", providerId: "re_9" });
    const res = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });
    expect(await res.json()).toEqual({ id: note.id, discarded: true, state: "sent" });
    expect(await recordOf(note.id)).toMatchObject({ state: "sent", providerId: "re_9" });
    expect(await env.STATUS.get(deadLetterKey(note.id))).toBeNull();
  });

  it("refuses with 409 a note already back in the queue", async () => {
    const note = makeNote();
    await seedDeadLetter(note, {}, { state: "queued" });
    const res = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });
    expect(await errorOf(res)).toMatchObject({ status: 409, error: "note_in_queue" });
    expect(await deadLetterOf(note.id)).not.toBeNull();
  });
});

describe("GET /ops/stats", () => {
  it("counts notes per state and dead letters per reason, from key metadata", async () => {
    const before = (await (await opsRequest("/ops/stats")).json()) as {
      states: Record<string, number>;
      records: number;
      deadLetters: { total: number; byReason: Record<string, number>; possiblySent: number };
    };
    const [a, b, c, d] = makeNotes(4);
    if (!a || !b || !c || !d) throw new Error("four notes");
    await seedDeadLetter(a, { reason: "rejected", possiblySent: true });
    await seedDeadLetter(b, { reason: "rejected" });
    await putRecord(env.STATUS, { id: c.id, state: "sent", attempts: 1, updatedAt: TEN_MINUTES_AGO() });
    // A record written without metadata (before deliver added it) is read to be counted.
    await env.STATUS.put(
      statusKey(d.id),
      JSON.stringify({ id: d.id, state: "delivered", attempts: 1, updatedAt: TEN_MINUTES_AGO() }),
    );

    const res = await opsRequest("/ops/stats");
    expect(res.status).toBe(200);
    const after = (await res.json()) as typeof before & { complete: boolean };
    const grew = (counts: Record<string, number>, old: Record<string, number>, key: string) =>
      (counts[key] ?? 0) - (old[key] ?? 0);
    expect(after.complete).toBe(true);
    expect(after.records - before.records).toBe(4);
    expect(grew(after.states, before.states, "dead")).toBe(2);
    expect(grew(after.states, before.states, "sent")).toBe(1);
    expect(grew(after.states, before.states, "delivered")).toBe(1);
    expect(after.deadLetters.total - before.deadLetters.total).toBe(2);
    expect(grew(after.deadLetters.byReason, before.deadLetters.byReason, "rejected")).toBe(2);
    expect(after.deadLetters.possiblySent - before.deadLetters.possiblySent).toBe(1);
  });

  it("answers 405 for another method", async () => {
    expect((await opsRequest("/ops/stats", { method: "POST" })).status).toBe(405);
  });
});
