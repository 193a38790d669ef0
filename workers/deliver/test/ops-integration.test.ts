/**
 * The ops API (/ops) inside workerd, called on its Hono sub-app, over dead letters that deliver
 * filed itself (the real consumers, a mocked provider, the real ledger): who gets in, what a
 * listing shows and hides, how it pages, what a replay puts back on the queue (once, and never a
 * note that went out), what a discard leaves behind, and what the counts say.
 */

import { env, exports } from "cloudflare:workers";
import type { DeadLetterListing, DeadLetterView, OpsStats, ReplayAnswer, StatusMetadata } from "@notepipe/pipeline";
import { statusKey } from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import { parseOpsTokens } from "../src/ops/auth.ts";
import { maskRecipient } from "../src/ops/list-dead-letters.ts";
import { MAX_REPLAY_PER_REQUEST, REPLAY_DELAY_SECONDS } from "../src/ops/replay-dead-letters.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import { deadLetterOf, envWith, faultyKv, faultyLedger, ledger, ledgerNote } from "./ledger.ts";
import {
  byId,
  makeNote,
  makeNotes,
  messageOf,
  mockProvider,
  rawMessage,
  recordOf,
  resendAccepted,
  resendError,
  runQueue,
} from "./notes.ts";
import {
  consume,
  deadLetterAfterRetries,
  deadLetterAsPossiblySent,
  deadLetterAsRejected,
  lastFailedAt,
  OPS_TOKEN,
  opsRequest,
  postJson,
  recordingQueue,
  replayedMessages,
  sentMessages,
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

async function list(query: string): Promise<DeadLetterListing> {
  const res = await opsRequest(`/ops/dead-letters?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as DeadLetterListing;
}

/** Every entry the listing shows for `query`, over all its pages. */
async function listAll(query: string): Promise<DeadLetterView[]> {
  const entries: DeadLetterView[] = [];
  let cursor: string | null = null;
  do {
    const page: DeadLetterListing = await list(`${query}${cursor === null ? "" : `&cursor=${cursor}`}`);
    entries.push(...page.deadLetters);
    cursor = page.cursor;
  } while (cursor !== null);
  return entries;
}

async function replay(body: unknown, environment: Env = env): Promise<ReplayAnswer> {
  const res = await postJson("/ops/dead-letters/replay", body, environment);
  expect(res.status).toBe(200);
  return (await res.json()) as ReplayAnswer;
}

/** A replay against queues (notes and notes-large alike) that record what they are sent. */
function replayer() {
  const { queue, batches } = recordingQueue();
  const environment = envWith({ NOTES_QUEUE: queue, NOTES_LARGE_QUEUE: queue });
  return { batches, environment, replay: (body: unknown) => replay(body, environment) };
}

async function stats(): Promise<OpsStats> {
  const res = await opsRequest("/ops/stats");
  expect(res.status).toBe(200);
  return (await res.json()) as OpsStats;
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
    await deadLetterAsRejected([note]);
    const record = await recordOf(note.id);

    const res = await opsRequest(`/ops/dead-letters?reason=rejected&limit=1000`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    const { deadLetters } = JSON.parse(text) as DeadLetterListing;
    expect(deadLetters.find((entry) => entry.id === note.id)).toEqual({
      id: note.id,
      reason: "rejected",
      message: "The mail provider rejected this email. The provider said: Invalid `to` field.",
      attempts: 1,
      firstFailureAt: record?.firstFailureAt,
      lastFailureAt: record?.updatedAt,
      possiblySent: false,
      recipient: "j***@example.com",
      acceptedAt: new Date(1_790_000_000_000).toISOString(),
    });
    expect(text).not.toContain(note.frame.toBase64());
    expect(text).not.toContain("jane.doe");
    expect(text).not.toContain(note.ciphertext.toBase64());
  });

  it("shows when a note that failed again had been replayed", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    const { batches, replay } = replayer();
    await replay({ ids: [note.id] });
    const replayedAt = sentMessages(batches)[0]?.body.replayedAt as number;

    await deadLetterAsRejected([note], { replayedAt });

    expect((await deadLetterOf(note.id))?.replayedAt).toBe(replayedAt);
    const entries = await listAll("reason=rejected&limit=1000");
    expect(entries.find((entry) => entry.id === note.id)?.replayedAt).toBe(new Date(replayedAt).toISOString());
  });

  it("masks every address to its first character and domain", () => {
    expect(maskRecipient("jane@example.com")).toBe("j***@example.com");
    expect(maskRecipient("j@example.com")).toBe("j***@example.com");
    expect(maskRecipient("o'brien+tag@mail.example.org")).toBe("o***@mail.example.org");
  });

  it("shows null for a recipient it cannot read from a damaged frame", async () => {
    const note = makeNote();
    const frame = note.frame.slice();
    frame[22] = 0x20; // a space in the recipient
    mockProvider();
    await consume([rawMessage({ frame, acceptedAt: 1_790_000_000_000 })]);

    const entries = await listAll("reason=undecodable&limit=1000");
    expect(entries.find((entry) => entry.id === note.id)).toMatchObject({ reason: "undecodable", recipient: null });
  });

  it("pages through every entry in id order with the cursor, each once", async () => {
    const notes = makeNotes(5);
    await deadLetterAsRejected(notes);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: DeadLetterListing = await list(
        `reason=rejected&limit=2${cursor === null ? "" : `&cursor=${cursor}`}`,
      );
      expect(page.deadLetters.length).toBeLessThanOrEqual(2);
      if (page.cursor !== null) expect(page.cursor).toBe(page.deadLetters.at(-1)?.id);
      seen.push(...page.deadLetters.map((entry) => entry.id));
      cursor = page.cursor;
    } while (cursor !== null);

    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(notes.map((note) => note.id)));
  });

  it("answers at most 200 entries a page, whatever the limit, and a cursor to the rest", async () => {
    const notes = makeNotes(201);
    await deadLetterAsRejected(notes.slice(0, 100));
    await deadLetterAsRejected(notes.slice(100, 200));
    await deadLetterAsRejected(notes.slice(200));

    const page = await list("reason=rejected&limit=1000");

    expect(page.deadLetters).toHaveLength(200);
    expect(page.cursor).toBe(page.deadLetters.at(-1)?.id);
  });

  it("filters by reason and by the time of the last failure", async () => {
    const [old, recent] = makeNotes(2);
    if (!old || !recent) throw new Error("two notes");
    await deadLetterAfterRetries([old, recent]);
    await lastFailedAt(old.id, "2026-01-01T00:00:00.000Z");
    await lastFailedAt(recent.id, "2026-06-01T00:00:00.000Z");

    const ids = async (query: string) =>
      (await listAll(query)).map((entry) => entry.id).filter((id) => id === old.id || id === recent.id);

    expect(await ids("reason=sender_not_verified&limit=1000")).toEqual([old.id, recent.id].sort());
    expect(await ids("reason=sender_not_verified&since=2026-03-01T00:00:00Z&limit=1000")).toEqual([recent.id]);
    expect(await ids("since=2026-03-01T00:00:00Z&limit=1000")).toEqual([recent.id]);
    expect(await ids("reason=rejected&limit=1000")).toEqual([]);
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=1001", "limit"],
    ["limit=ten", "limit"],
    ["reason=no_such_reason", "reason"],
    ["since=yesterday", "since"],
    ["cursor=not-an-id", "cursor"],
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

  it("answers 503 retry_later when the ledger does not answer", async () => {
    const environment = envWith({ LEDGER: faultyLedger(env.LEDGER, { before: new Set(["listDeadLetters"]) }) });
    const res = await opsRequest("/ops/dead-letters", {}, environment);
    expect(await errorOf(res)).toEqual({
      status: 503,
      error: "retry_later",
      message: "The delivery ledger did not answer; retry in a few seconds.",
    });
    expect(res.headers.get("retry-after")).toBe("5");
  });
});

describe("POST /ops/dead-letters/replay", () => {
  it("puts each note back on the queue as v8 with replayedAt, and the note is queued in the ledger and in KV", async () => {
    const notes = byId(makeNotes(3));
    await deadLetterAsRejected(notes);
    const { batches, replay } = replayer();
    const before = Date.now();

    const answer = await replay({ ids: notes.map((note) => note.id) });

    expect(answer).toEqual({
      replayed: 3,
      skipped: 0,
      failed: 0,
      skippedPossiblySent: 0,
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
        attempts: 1,
        updatedAt: expect.any(String),
      });
      const { metadata } = await env.STATUS.getWithMetadata<StatusMetadata>(statusKey(note.id));
      expect(metadata).toEqual({ state: "queued" });
      const row = await ledgerNote(note.id);
      expect(row).toMatchObject({ state: "queued", dead_letter: 0 });
      expect(row?.kv_version).toBe(row?.version);
    }
  });

  it("replayed twice sends each note once, deliver mails each once, and a third replay finds them sent", async () => {
    const notes = makeNotes(2);
    await deadLetterAsRejected(notes);
    const { batches, replay } = replayer();
    const ids = notes.map((note) => note.id);

    const first = await replay({ ids });
    const second = await replay({ ids });

    expect(first).toMatchObject({ replayed: 2, skipped: 0, failed: 0 });
    expect(second).toEqual({
      replayed: 0,
      skipped: 2,
      failed: 0,
      skippedPossiblySent: 0,
      results: ids.map((id) => ({ id, outcome: "skipped", reason: "already_queued" })),
    });
    expect(sentMessages(batches)).toHaveLength(2);

    // What deliver makes of the replayed messages: one request, one email per note, state sent.
    const requests = mockProvider(resendAccepted);
    await consume(replayedMessages(batches));
    expect(requests).toHaveLength(1);
    expect(((requests[0]?.body ?? []) as { to: string[] }[]).map((email) => email.to[0])).toEqual(
      byId(notes).map((note) => note.recipient),
    );
    for (const note of notes) expect(await recordOf(note.id)).toMatchObject({ state: "sent" });

    const third = await replay({ ids });
    expect(third.results).toEqual(ids.map((id) => ({ id, outcome: "skipped", reason: "already_sent" })));
    expect(sentMessages(batches)).toHaveLength(2);
  });

  it("refuses a dead-lettered note that a delivery webhook says went out after all", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    await ledger().applyEvent({ noteId: note.id, state: "delivered", eventId: "msg_delivered_1" });
    const { batches, replay } = replayer();

    expect((await replay({ ids: [note.id] })).results).toEqual([
      { id: note.id, outcome: "skipped", reason: "already_sent" },
    ]);
    expect(batches).toEqual([]);
    expect(await deadLetterOf(note.id)).toBeNull();
  });

  it("skips an id with no dead letter, a note back in the queue, and a frame that cannot decode", async () => {
    const [queued, damaged] = makeNotes(2);
    if (!queued || !damaged) throw new Error("two notes");
    await deadLetterAsRejected([queued]);
    await replayer().replay({ ids: [queued.id] });
    const frame = damaged.frame.slice();
    frame[22] = 0x20;
    mockProvider();
    await consume([rawMessage({ frame, acceptedAt: 1_790_000_000_000 })]);
    const unknown = crypto.randomUUID();
    const { batches, replay } = replayer();

    const answer = await replay({ ids: [unknown, queued.id, damaged.id] });

    expect(answer).toEqual({
      replayed: 0,
      skipped: 3,
      failed: 0,
      skippedPossiblySent: 0,
      results: [
        { id: unknown, outcome: "skipped", reason: "not_found" },
        { id: queued.id, outcome: "skipped", reason: "already_queued" },
        { id: damaged.id, outcome: "skipped", reason: "undecodable" },
      ],
    });
    expect(batches).toEqual([]);
    expect(await deadLetterOf(damaged.id)).not.toBeNull();
  });

  it("skips a possibly-sent entry, even by id, unless the body says includePossiblySent", async () => {
    const [maybe, rejected] = makeNotes(2);
    if (!maybe || !rejected) throw new Error("two notes");
    await deadLetterAsPossiblySent([maybe]);
    await deadLetterAsRejected([rejected]);
    expect(await deadLetterOf(maybe.id)).toMatchObject({ reason: "possibly_sent", possiblySent: true });
    const { batches, replay } = replayer();

    const cautious = await replay({ ids: [maybe.id, rejected.id] });

    expect(cautious).toEqual({
      replayed: 1,
      skipped: 1,
      failed: 0,
      skippedPossiblySent: 1,
      results: [
        { id: maybe.id, outcome: "skipped", reason: "possibly_sent" },
        { id: rejected.id, outcome: "replayed" },
      ],
    });
    expect(await deadLetterOf(maybe.id)).not.toBeNull();
    expect(await recordOf(maybe.id)).toMatchObject({ state: "failed", errorCode: "possibly_sent" });

    const chosen = await replay({ ids: [maybe.id], includePossiblySent: true });

    expect(chosen).toMatchObject({ replayed: 1, skipped: 0, skippedPossiblySent: 0 });
    expect(sentMessages(batches).map((message) => message.body.frame)).toEqual([rejected.frame, maybe.frame]);
    expect(await recordOf(maybe.id)).toMatchObject({ state: "queued" });
  });

  it("{all: true} leaves possibly-sent entries out and counts them, and replays them when asked", async () => {
    const [maybe, rejected] = makeNotes(2);
    if (!maybe || !rejected) throw new Error("two notes");
    await deadLetterAsPossiblySent([maybe]);
    await deadLetterAsRejected([rejected]);
    const { replay } = replayer();

    const everything = async (body: Record<string, unknown>) => {
      const answers: ReplayAnswer[] = [];
      let cursor: string | null | undefined = null;
      do {
        answers.push(await replay({ ...body, ...(cursor === null ? {} : { cursor }) }));
        cursor = answers.at(-1)?.cursor;
      } while (cursor !== null && cursor !== undefined);
      return answers;
    };
    const outcomeOf = (answers: ReplayAnswer[], id: string) =>
      answers.flatMap((answer) => answer.results).find((result) => result.id === id);

    const cautious = await everything({ all: true });
    expect(outcomeOf(cautious, maybe.id)).toEqual({ id: maybe.id, outcome: "skipped", reason: "possibly_sent" });
    expect(outcomeOf(cautious, rejected.id)).toEqual({ id: rejected.id, outcome: "replayed" });
    for (const answer of cautious) {
      const possiblySent = answer.results.filter(
        (result) => result.outcome === "skipped" && result.reason === "possibly_sent",
      );
      expect(answer.skippedPossiblySent).toBe(possiblySent.length);
    }
    expect(cautious.reduce((sum, answer) => sum + answer.skippedPossiblySent, 0)).toBeGreaterThanOrEqual(1);

    const chosen = await everything({ all: true, includePossiblySent: true });
    expect(outcomeOf(chosen, maybe.id)).toEqual({ id: maybe.id, outcome: "replayed" });
    expect(chosen.every((answer) => answer.skippedPossiblySent === 0)).toBe(true);
    expect(await deadLetterOf(maybe.id)).toBeNull();
  });

  it("replays only what matches since and reason, and goes on from the cursor", async () => {
    const [early, late, other] = makeNotes(3);
    if (!early || !late || !other) throw new Error("three notes");
    await deadLetterAfterRetries([early, late]);
    await deadLetterAsRejected([other]);
    await lastFailedAt(early.id, "2026-02-01T00:00:00.000Z");
    await lastFailedAt(late.id, "2026-04-01T00:00:00.000Z");
    await lastFailedAt(other.id, "2026-04-01T00:00:00.000Z");
    const { batches, replay } = replayer();

    const filtered = await replay({ since: "2026-03-01T00:00:00Z", reason: "sender_not_verified" });

    expect(filtered.results.filter((result) => [early.id, other.id].includes(result.id))).toEqual([]);
    expect(filtered.results).toContainEqual({ id: late.id, outcome: "replayed" });
    expect(filtered.cursor).toBeNull();
    expect(sentMessages(batches).map((message) => message.body.frame)).toContainEqual(late.frame);
    expect(await deadLetterOf(early.id)).not.toBeNull();
    expect(await deadLetterOf(other.id)).not.toBeNull();
  });

  it("counts a refused send as failed and leaves the entry replayable, as it was", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    const failing = { now: true };
    const { queue, batches } = recordingQueue(failing);
    const environment = envWith({ NOTES_QUEUE: queue });
    const recordBefore = await recordOf(note.id);
    const letterBefore = await deadLetterOf(note.id);

    expect(await replay({ ids: [note.id] }, environment)).toEqual({
      replayed: 0,
      skipped: 0,
      failed: 1,
      skippedPossiblySent: 0,
      results: [{ id: note.id, outcome: "failed", reason: "queue_unavailable" }],
    });
    expect(await recordOf(note.id)).toEqual(recordBefore);
    expect(await deadLetterOf(note.id)).toEqual(letterBefore);

    failing.now = false;
    expect(await replay({ ids: [note.id] }, environment)).toMatchObject({ replayed: 1, failed: 0 });
    expect(sentMessages(batches)).toHaveLength(1);
  });

  it("puts each note back on the queue its size belongs on, as ingest did", async () => {
    const small = makeNote("ada@example.com");
    const large = makeNote("grace@example.com", 20_000);
    await deadLetterAsRejected([small, large]);
    const smallQueue = recordingQueue();
    const largeQueue = recordingQueue();
    const environment = envWith({ NOTES_QUEUE: smallQueue.queue, NOTES_LARGE_QUEUE: largeQueue.queue });

    expect(await replay({ ids: [small.id, large.id] }, environment)).toMatchObject({ replayed: 2, failed: 0 });
    expect(sentMessages(smallQueue.batches).map((message) => message.body.frame)).toEqual([small.frame]);
    expect(sentMessages(largeQueue.batches).map((message) => message.body.frame)).toEqual([large.frame]);
  });

  it("puts at most 1 MiB of frames on the queue per request, and answers the rest as remaining", async () => {
    const notes = Array.from({ length: 20 }, (_, i) => makeNote(`big${i}@example.com`, 65_000));
    // 8 at a time: more frames of 64 KB would outgrow the consumer's own byte budget.
    for (let i = 0; i < notes.length; i += 8) await deadLetterAsRejected(notes.slice(i, i + 8));
    const { batches, replay } = replayer();
    const ids = notes.map((note) => note.id);

    const first = await replay({ ids });
    console.log("DEBUG", JSON.stringify(first).slice(0, 900));
    expect(first).toMatchObject({ replayed: 16, skipped: 0, failed: 0, remaining: ids.slice(16) });
    const second = await replay({ ids: first.remaining });

    expect(second).toMatchObject({ replayed: 4, skipped: 0, failed: 0 });
    expect(second.remaining).toBeUndefined();
    expect(sentMessages(batches)).toHaveLength(20);
  });

  it("stops the cursor of an --all replay before what the byte budget left", async () => {
    const notes = Array.from({ length: 18 }, (_, i) => makeNote(`cursor${i}@example.com`, 65_000));
    for (let i = 0; i < notes.length; i += 8) await deadLetterAsRejected(notes.slice(i, i + 8));
    const { batches, replay } = replayer();

    let answer = await replay({ all: true });
    let replayed = answer.replayed;
    for (let page = 0; page < 5 && answer.cursor != null; page++) {
      answer = await replay({ all: true, cursor: answer.cursor });
      replayed += answer.replayed;
    }

    // 16 in the first request, the cursor stops before the 17th, the next takes the rest (and any
    // dead letter earlier tests in this file left).
    expect(replayed).toBeGreaterThanOrEqual(18);
    expect(sentMessages(batches).length).toBe(replayed);
    for (const note of notes) expect(await deadLetterOf(note.id)).toBeNull();
  });

  it("sends at most 100 messages per sendBatch call", async () => {
    const notes = makeNotes(150);
    await deadLetterAsRejected(notes.slice(0, 75));
    await deadLetterAsRejected(notes.slice(75));
    const { batches, replay } = replayer();

    expect(await replay({ ids: notes.map((note) => note.id) })).toMatchObject({ replayed: 150, skipped: 0, failed: 0 });
    expect(batches.map((batch) => batch.messages.length)).toEqual([100, 50]);
  });

  it("handles at most 200 ids per request and answers the rest as remaining", async () => {
    const ids = Array.from({ length: MAX_REPLAY_PER_REQUEST + 5 }, () => crypto.randomUUID());

    const answer = await replayer().replay({ ids });

    expect(MAX_REPLAY_PER_REQUEST).toBe(200);
    expect(answer.skipped).toBe(MAX_REPLAY_PER_REQUEST);
    expect(answer.results).toHaveLength(MAX_REPLAY_PER_REQUEST);
    expect(answer.remaining).toEqual(ids.slice(MAX_REPLAY_PER_REQUEST));
  });

  it("answers 503 and sends nothing when the ledger does not answer", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    const { queue, batches } = recordingQueue();
    const ledgerDown = faultyLedger(env.LEDGER, { before: new Set(["beginReplay"]) });

    const res = await postJson(
      "/ops/dead-letters/replay",
      { ids: [note.id] },
      envWith({ NOTES_QUEUE: queue, LEDGER: ledgerDown }),
    );

    expect(await errorOf(res)).toMatchObject({ status: 503, error: "retry_later" });
    expect(batches).toEqual([]);
    expect(await deadLetterOf(note.id)).not.toBeNull();
  });

  it.each([
    ["not JSON", "{ids: [", "not valid JSON"],
    ["an empty object", "{}", "give exactly one of"],
    ["two forms at once", JSON.stringify({ all: true, ids: ["3b241101-e2bb-4255-8caf-4136c566a962"] }), "exactly one"],
    ["all: false", JSON.stringify({ all: false }), "all:"],
    ["an unknown field", JSON.stringify({ all: true, force: true }), "Unrecognized key"],
    ["an id that is not one", JSON.stringify({ ids: ["../note:x"] }), "not a dead-letter id"],
    ["no ids", JSON.stringify({ ids: [] }), "ids:"],
    [
      "a cursor with ids",
      JSON.stringify({ ids: ["3b241101-e2bb-4255-8caf-4136c566a962"], cursor: "msg-1" }),
      "cursor:",
    ],
    ["a cursor that is no id", JSON.stringify({ all: true, cursor: "eyJrZXkiOiJkZWFkOngifQ" }), "cursor:"],
    [
      "includePossiblySent not a boolean",
      JSON.stringify({ all: true, includePossiblySent: "yes" }),
      "includePossiblySent:",
    ],
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
    expect(error.message).toContain(fragment);
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
    await deadLetterAfterRetries([note]);
    const letter = await deadLetterOf(note.id);

    const res = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: note.id, discarded: true, state: "failed" });
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toEqual({
      id: note.id,
      state: "failed",
      attempts: letter?.attempts,
      updatedAt: expect.any(String),
      error: `An operator discarded this note's dead letter. It had failed: ${letter?.message}`,
      errorCode: "discarded",
      firstFailureAt: letter?.firstFailureAt,
    });
    const row = await ledgerNote(note.id);
    expect(row?.kv_version).toBe(row?.version);
    expect((await replayer().replay({ ids: [note.id] })).results).toEqual([
      { id: note.id, outcome: "skipped", reason: "not_found" },
    ]);
  });

  it("answers 404 for an id with no entry, or one already discarded, and 400 for a malformed id", async () => {
    const missing = await opsRequest(`/ops/dead-letters/${crypto.randomUUID()}`, { method: "DELETE" });
    expect(await errorOf(missing)).toEqual({
      status: 404,
      error: "dead_letter_not_found",
      message: "No dead letter has this id.",
    });

    const note = makeNote();
    await deadLetterAsRejected([note]);
    expect((await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" })).status).toBe(200);
    const again = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });
    expect(await errorOf(again)).toMatchObject({ status: 404, error: "dead_letter_not_found" });

    const malformed = await opsRequest("/ops/dead-letters/NOT-AN-ID", { method: "DELETE" });
    expect(await errorOf(malformed)).toMatchObject({ status: 400, error: "bad_request" });
  });

  it("refuses with 409 a note back in the queue, and 404 once it went out: a sent note never moves back", async () => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    const { batches, replay } = replayer();
    await replay({ ids: [note.id] });

    const queued = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });
    expect(await errorOf(queued)).toMatchObject({ status: 409, error: "note_in_queue" });

    mockProvider(resendAccepted);
    await consume(replayedMessages(batches));
    const sent = await opsRequest(`/ops/dead-letters/${note.id}`, { method: "DELETE" });
    expect(await errorOf(sent)).toMatchObject({ status: 404, error: "dead_letter_not_found" });
    expect(await recordOf(note.id)).toMatchObject({ state: "sent", providerId: "re_0" });
  });

  it("discards an entry that has no note id without writing a status record", async () => {
    const message = rawMessage({ hello: "world" });
    mockProvider();
    await consume([message]);
    const id = `msg-${message.id}`;

    const res = await opsRequest(`/ops/dead-letters/${id}`, { method: "DELETE" });

    expect(await res.json()).toEqual({ id, discarded: true, state: "failed" });
    expect(await deadLetterOf(id)).toBeNull();
    expect(await env.STATUS.get(statusKey(id))).toBeNull();
  });
});

describe("GET /ops/stats", () => {
  const grew = (after: Record<string, number>, before: Record<string, number>, key: string) =>
    (after[key] ?? 0) - (before[key] ?? 0);

  it("counts notes per state and dead letters per reason, exactly, from the ledger", async () => {
    const before = await stats();
    const [a, b, c, d, e] = makeNotes(5);
    if (!a || !b || !c || !d || !e) throw new Error("five notes");
    await deadLetterAsRejected([a, b]);
    await deadLetterAsPossiblySent([c]);
    await deadLetterAfterRetries([d]);
    mockProvider(resendAccepted);
    await consume([messageOf(e)]);

    const after = await stats();

    expect(after.complete).toBe(true);
    expect(after.records - before.records).toBe(5);
    expect(grew(after.states, before.states, "failed")).toBe(3);
    expect(grew(after.states, before.states, "dead")).toBe(1);
    expect(grew(after.states, before.states, "sent")).toBe(1);
    expect(after.deadLetters.total - before.deadLetters.total).toBe(4);
    expect(grew(after.deadLetters.byReason, before.deadLetters.byReason, "rejected")).toBe(2);
    expect(grew(after.deadLetters.byReason, before.deadLetters.byReason, "possibly_sent")).toBe(1);
    expect(grew(after.deadLetters.byReason, before.deadLetters.byReason, "sender_not_verified")).toBe(1);
    expect(after.deadLetters.possiblySent - before.deadLetters.possiblySent).toBe(1);
  });

  it("counts the records KV refused as behind, and requests whose answer never came as unanswered", async () => {
    const before = await stats();
    const kvDown = envWith({ STATUS: faultyKv(env.STATUS, { ops: new Set(["put"]) }) });
    await deadLetterAsRejected([makeNote()], { environment: kvDown });
    mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
    await runQueue("notes", [messageOf(makeNote())]);

    const after = await stats();

    expect(after.behind - before.behind).toBe(1);
    expect(after.unanswered - before.unanswered).toBe(1);
  });

  it("answers 405 for another method", async () => {
    expect((await opsRequest("/ops/stats", { method: "POST" })).status).toBe(405);
  });
});
