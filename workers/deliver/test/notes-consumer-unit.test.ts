/**
 * The `notes` consumer with Resend, called directly with a batch (createMessageBatch) and judged
 * by exactly what it acked and retried, what it sent, what the delivery ledger holds and what it
 * left in KV. Faults of KV and of the ledger itself: notes-consumer-faults-unit.test.ts.
 */

import { env } from "cloudflare:workers";
import { STATUS_TTL_SECONDS, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { describe, expect, it, vi } from "vitest";
import { TEST_MAIL_API_KEY, TEST_MAIL_API_URL } from "./config.ts";
import { ageRequests, deadLetterOf, envWith, ledger, ledgerNote, ledgerRecord } from "./ledger.ts";
import {
  byId,
  fixJitter,
  ids,
  makeNote,
  makeNotes,
  messageOf,
  mockProvider,
  rawMessage,
  recordOf,
  resendAccepted,
  resendEmails,
  resendError,
  runQueue,
  secondsToLive,
  type TestNote,
} from "./notes.ts";

const HOUR_MS = 60 * 60 * 1000;

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

function retried(messageIds: string[], delaySeconds: number) {
  return sorted(messageIds).map((msgId) => ({ msgId, delaySeconds }));
}

function retryOrder(result: { retryMessages: { msgId: string; delaySeconds?: number }[] }) {
  return [...result.retryMessages].sort((a, b) => (a.msgId < b.msgId ? -1 : 1));
}

/** The status-record writes the Worker makes (dead letters and key markers are counted apart). */
function countRecordWrites() {
  const put = vi.spyOn(env.STATUS, "put");
  return () => put.mock.calls.filter(([key]) => String(key).startsWith("note:")).length;
}

describe("a batch the provider takes", () => {
  it("goes out in one request and every note is acked as sent, with one KV write each", async () => {
    const notes = makeNotes(3);
    const messages = notes.map((note) => messageOf(note));
    const requests = mockProvider(resendAccepted);
    const recordWrites = countRecordWrites();

    const result = await runQueue("notes", messages);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    expect(result.retryMessages).toEqual([]);
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url).toBe(`${TEST_MAIL_API_URL}/emails/batch`);
    expect(request?.headers.get("authorization")).toBe(`Bearer ${TEST_MAIL_API_KEY}`);
    expect(request?.headers.get("x-batch-validation")).toBe("permissive");
    expect(request?.headers.get("content-type")).toBe("application/json");
    expect(request?.headers.get("idempotency-key")).toMatch(/^notepipe-v2-[0-9a-f-]{36}$/);
    expect(request?.body).toEqual(resendEmails(notes));
    for (const [i, note] of byId(notes).entries()) {
      expect(await recordOf(note.id)).toEqual({
        id: note.id,
        state: "sent",
        attempts: 1,
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        providerId: `re_${i}`,
      });
    }
    expect(recordWrites()).toBe(3);
    for (const note of notes) {
      // Settled, held by no request, its frame dropped, and KV known to hold its record.
      expect(await ledgerNote(note.id)).toMatchObject({
        state: "sent",
        request_key: null,
        frame: null,
        dead_letter: 0,
      });
      const row = await ledgerNote(note.id);
      expect(row?.kv_version).toBe(row?.version);
    }
  });

  it("keeps each status record for 30 days", async () => {
    const note = makeNote();
    mockProvider(resendAccepted);

    await runQueue("notes", [messageOf(note)]);

    const ttl = await secondsToLive(statusKey(note.id));
    expect(ttl).toBeGreaterThan(STATUS_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(STATUS_TTL_SECONDS);
  });

  it("sends a full batch of 100 notes in one request", async () => {
    const notes = makeNotes(100);
    const requests = mockProvider(resendAccepted);

    const result = await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
    );

    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toHaveLength(100);
    expect(result.explicitAcks).toHaveLength(100);
  });

  it("costs the ledger two calls per batch and three row writes per note, six more per batch", async () => {
    const notes = makeNotes(100);
    mockProvider(resendAccepted);
    const calls: string[] = [];
    const counting = new Proxy(env.LEDGER, {
      get(target, property) {
        if (property !== "getByName") return Reflect.get(target, property);
        return (name: string) =>
          new Proxy(target.getByName(name), {
            get(stub, method) {
              if (typeof method === "string" && method !== "then") calls.push(method);
              return Reflect.get(stub, method);
            },
          });
      },
    });
    const before = await ledger().usage();

    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
      envWith({ LEDGER: counting as Env["LEDGER"] }),
    );

    const after = await ledger().usage();
    expect(calls).toEqual(["claim", "settle"]);
    // The Free plan's 100,000 rows written a day: 3 per note on the happy path, the row's two
    // writes and its entry in the expiry index prune walks; per batch its request, written and
    // deleted, and the counters' row and the series' minute once per call (README.md).
    expect(after.rowsWritten - before.rowsWritten).toBe(3 * 100 + 6);
    // The capacity bench reads the same counts from GET /ops/stats: one KV write and one queue
    // delivery per note, and one request per ledger call.
    expect(after.kvWrites - before.kvWrites).toBe(100);
    expect(after.claimedNotes - before.claimedNotes).toBe(100);
    expect((after.requests.claim ?? 0) - (before.requests.claim ?? 0)).toBe(1);
    expect((after.requests.settle ?? 0) - (before.requests.settle ?? 0)).toBe(1);
  });

  it("JSON-encodes whatever the configured From and Subject hold", async () => {
    const note = makeNote();
    const from = 'Zoë "Notes" \\ Bot <notes@notepipe.dev>';
    const subject = "Line one\nline two ✉ </script>";
    const requests = mockProvider(resendAccepted);

    await runQueue(
      "notes",
      [messageOf(note)],
      envWith({ MAIL_FROM: from, MAIL_SUBJECT: subject } as unknown as Partial<Env>),
    );

    expect(requests[0]?.body).toEqual(resendEmails([note], from, subject));
  });
});

describe("a permissive batch in which some emails fail", () => {
  it("acks every note: the created ones sent, the refused one failed and in the dead-letter store", async () => {
    const notes = byId(makeNotes(3));
    const messages = notes.map((note) => messageOf(note));
    const refusal = "Invalid `to` field. The email address needs to follow the `email@example.com` format.";
    mockProvider(Response.json({ data: [{ id: "re_a" }, { id: "re_c" }], errors: [{ index: 1, message: refusal }] }));

    const result = await runQueue("notes", messages);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    expect(result.retryMessages).toEqual([]);
    const [first, refused, last] = notes as [(typeof notes)[0], (typeof notes)[0], (typeof notes)[0]];
    expect(await recordOf(first.id)).toMatchObject({ state: "sent", providerId: "re_a" });
    expect(await recordOf(last.id)).toMatchObject({ state: "sent", providerId: "re_c" });
    const error =
      "The mail provider rejected this email. The provider said: Invalid `to` field. The email address needs to follow the `<address>` format.";
    const record = await recordOf(refused.id);
    expect(record).toEqual({
      id: refused.id,
      state: "failed",
      attempts: 1,
      updatedAt: expect.any(String),
      error,
      errorCode: "rejected",
      firstFailureAt: record?.updatedAt,
    });
    expect(await deadLetterOf(refused.id)).toEqual({
      id: refused.id,
      frame: refused.frame.toBase64(),
      reason: "rejected",
      message: error,
      attempts: 1,
      firstFailureAt: record?.updatedAt,
      lastFailureAt: record?.updatedAt,
      possiblySent: false,
      acceptedAt: 1_790_000_000_000,
    });
  });
});

describe("a transient failure", () => {
  it("retries every note of a 500 after one jittered delay, the request held by the ledger", async () => {
    fixJitter(0.5);
    const notes = makeNotes(2);
    const messages = notes.map((note) => messageOf(note, { attempts: 3 }));
    const requests = mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));

    const result = await runQueue("notes", messages);

    // attempt 3: up to 30 × 2² = 120 s, half of it.
    expect(retryOrder(result)).toEqual(retried(ids(messages), 60));
    expect(result.explicitAcks).toEqual([]);
    const key = requests[0]?.headers.get("idempotency-key");
    for (const note of notes) {
      const record = (await recordOf(note.id)) as StatusRecord;
      expect(record).toEqual({
        id: note.id,
        state: "retrying",
        attempts: 3,
        updatedAt: expect.any(String),
        nextAttemptAt: new Date(Date.parse(record.updatedAt) + 60_000).toISOString(),
        error: "The mail provider answered with a server error. The provider said: An unexpected error occurred.",
        errorCode: "provider_unavailable",
        firstFailureAt: record.updatedAt,
      });
      // The provider may have taken it: only this request, under this key, may carry it again.
      expect(await ledgerNote(note.id)).toMatchObject({ state: "retrying", request_key: key });
    }
  });

  it("waits as long as a 429's Retry-After asks, and holds no request: a 429 sent nothing", async () => {
    fixJitter(0);
    const note = makeNote();
    const message = messageOf(note);
    const first = mockProvider(
      resendError(429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second.", {
        "retry-after": "120",
      }),
    );

    const result = await runQueue("notes", [message]);

    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 120 }]);
    expect(await recordOf(note.id)).toMatchObject({ state: "retrying", errorCode: "rate_limited" });
    expect(await ledgerNote(note.id)).toMatchObject({ state: "retrying", request_key: null });
    vi.restoreAllMocks();
    const second = mockProvider(resendAccepted);
    await runQueue("notes", [messageOf(note, { attempts: 2 })]);
    expect(second[0]?.headers.get("idempotency-key")).not.toBe(first[0]?.headers.get("idempotency-key"));
  });

  it("caps the backoff at 12 hours", async () => {
    fixJitter(0.999_999);
    const message = messageOf(makeNote(), { attempts: 20 });
    mockProvider(new Response("<html><h1>503 Service Temporarily Unavailable</h1></html>", { status: 503 }));

    const result = await runQueue("notes", [message]);

    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 43_200 }]);
  });

  it("keeps when a note's troubles began across retries", async () => {
    fixJitter(0);
    const note = makeNote();
    mockProvider(resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "1" }));
    await runQueue("notes", [messageOf(note)]);
    const began = (await recordOf(note.id))?.firstFailureAt;
    vi.restoreAllMocks();
    mockProvider(new TypeError("Network connection lost."));

    await runQueue("notes", [messageOf(note, { attempts: 2 })]);

    expect(await ledgerRecord(note.id)).toMatchObject({
      state: "retrying",
      attempts: 2,
      errorCode: "network_error",
      error: "The connection to the mail provider failed. The provider said: TypeError: Network connection lost.",
      firstFailureAt: began,
    });
  });

  it("gives up on a request after MAIL_TIMEOUT_SECONDS and retries its notes", async () => {
    fixJitter(0.5);
    const message = messageOf(makeNote());
    // A provider that never answers: only the Worker's abort signal ends the request.
    vi.spyOn(globalThis, "fetch").mockImplementation(
      (_input, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );

    const result = await runQueue(
      "notes",
      [message],
      envWith({ MAIL_TIMEOUT_SECONDS: "1" } as unknown as Partial<Env>),
    );

    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 15 }]);
  });
});

describe("never twice", () => {
  it("sends notes whose request went unanswered again as the identical request: same key, same bytes", async () => {
    fixJitter(0.5);
    const notes = makeNotes(2);
    const first = mockProvider(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
    );
    vi.restoreAllMocks();
    const second = mockProvider(resendAccepted);

    const messages = notes.map((note) => messageOf(note, { attempts: 2 }));
    const result = await runQueue("notes", messages);

    expect(second).toHaveLength(1);
    expect(second[0]?.headers.get("idempotency-key")).toBe(first[0]?.headers.get("idempotency-key"));
    expect(second[0]?.body).toEqual(first[0]?.body);
    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    for (const note of notes) expect(await recordOf(note.id)).toMatchObject({ state: "sent", attempts: 2 });
  });

  it("sends an unanswered request whole, even when Queues brings back only part of it", async () => {
    fixJitter(0.5);
    const [a, b, c] = byId(makeNotes(3)) as [TestNote, TestNote, TestNote];
    const first = mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
    await runQueue("notes", [messageOf(a), messageOf(b)]);
    vi.restoreAllMocks();
    const second = mockProvider(resendAccepted, resendAccepted);

    // b's message is elsewhere in the queue; c is new.
    const messages = [messageOf(c), messageOf(a, { attempts: 2 })];
    const result = await runQueue("notes", messages);

    expect(second).toHaveLength(2);
    const [resent, fresh] = second;
    expect(resent?.headers.get("idempotency-key")).toBe(first[0]?.headers.get("idempotency-key"));
    // b's frame comes from the ledger: the body is byte for byte the first one.
    expect(resent?.body).toEqual(first[0]?.body);
    expect(fresh?.headers.get("idempotency-key")).not.toBe(first[0]?.headers.get("idempotency-key"));
    expect(fresh?.body).toEqual(resendEmails([c]));
    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    expect(await recordOf(b.id)).toMatchObject({ state: "sent" });
    vi.restoreAllMocks();

    // When b's own message comes, nothing is left to send.
    const none = mockProvider();
    const late = messageOf(b, { attempts: 2 });
    expect((await runQueue("notes", [late])).explicitAcks).toEqual([late.id]);
    expect(none).toHaveLength(0);
  });

  it("dead-letters as possibly sent, without a request, the notes of a request unanswered past the key's window", async () => {
    fixJitter(0.5);
    const [a, b] = makeNotes(2) as [TestNote, TestNote];
    mockProvider(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
    await runQueue("notes", [messageOf(a), messageOf(b)]);
    await ageRequests(23 * HOUR_MS);
    vi.restoreAllMocks();
    const requests = mockProvider();

    const message = messageOf(a, { attempts: 10 });
    const result = await runQueue("notes", [message]);

    expect(requests).toHaveLength(0);
    expect(result.explicitAcks).toEqual([message.id]);
    for (const note of [a, b]) {
      expect(await deadLetterOf(note.id)).toMatchObject({ reason: "possibly_sent", possiblySent: true });
    }
    expect(await recordOf(a.id)).toMatchObject({ state: "failed", errorCode: "possibly_sent" });
  });

  it("keeps a request that met only 429s free to go under a new key: nothing was sent", async () => {
    fixJitter(0);
    const note = makeNote();
    mockProvider(resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "1" }));
    await runQueue("notes", [messageOf(note)]);
    await ageRequests(25 * HOUR_MS);
    vi.restoreAllMocks();
    const requests = mockProvider(resendAccepted);

    await runQueue("notes", [messageOf(note, { attempts: 2 })]);

    expect(requests).toHaveLength(1);
    expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
  });

  it("acks a note that is already sent without sending it again", async () => {
    const [sent, fresh] = makeNotes(2) as [TestNote, TestNote];
    mockProvider(resendAccepted);
    await runQueue("notes", [messageOf(sent)]);
    const sentRecord = await recordOf(sent.id);
    vi.restoreAllMocks();
    const requests = mockProvider(resendAccepted);

    const messages = [messageOf(sent), messageOf(fresh)];
    const result = await runQueue("notes", messages);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toEqual(resendEmails([fresh]));
    expect(await recordOf(sent.id)).toEqual(sentRecord);
  });

  it("makes no request at all when every note is sent or later, however stale KV is", async () => {
    const notes = makeNotes(3);
    mockProvider(resendAccepted);
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
    );
    // KV lags or lost the records: the ledger decides, not KV.
    for (const note of notes) await env.STATUS.delete(statusKey(note.id));
    vi.restoreAllMocks();
    const requests = mockProvider();

    const messages = notes.map((note) => messageOf(note, { attempts: 2 }));
    const result = await runQueue("notes", messages);

    expect(requests).toHaveLength(0);
    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
  });

  it("acks a redelivered note that already failed, and sends it only for the replay ops started", async () => {
    const note = makeNote();
    mockProvider(Response.json({ data: [], errors: [{ index: 0, message: "Invalid `to` field." }] }));
    await runQueue("notes", [messageOf(note)]);
    vi.restoreAllMocks();
    const none = mockProvider();
    const redelivered = messageOf(note);
    const stale = messageOf(note, { replayedAt: 1_790_000_000_001 });
    expect(sorted((await runQueue("notes", [redelivered, stale])).explicitAcks)).toEqual(
      sorted(ids([redelivered, stale])),
    );
    expect(none).toHaveLength(0);
    vi.restoreAllMocks();

    const token = Date.now();
    const started = await ledger().beginReplay([note.id], token, false);
    expect(started.replay.map((entry) => entry.id)).toEqual([note.id]);
    const requests = mockProvider(resendAccepted);
    const replay = messageOf(note, { replayedAt: token });
    const result = await runQueue("notes", [replay]);

    expect(requests).toHaveLength(1);
    expect(result.explicitAcks).toEqual([replay.id]);
    expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
    expect(await deadLetterOf(note.id)).toBeNull();
  });

  it("sends a note queued twice in one batch once, and acks both copies", async () => {
    const note = makeNote();
    const requests = mockProvider(resendAccepted);
    const [original, copy] = [messageOf(note), messageOf(note)] as const;

    const result = await runQueue("notes", [original, copy]);

    expect(requests).toHaveLength(1);
    expect(requests[0]?.body).toHaveLength(1);
    expect(sorted(result.explicitAcks)).toEqual(sorted([original.id, copy.id]));
  });
});

describe("a pipeline-level failure", () => {
  const unverified = () =>
    resendError(
      403,
      "validation_error",
      "You can only send testing emails to your own email address (owner@example.com). To send emails to other recipients, please verify a domain at resend.com/domains.",
    );

  it("holds the whole batch for PIPELINE_RETRY_SECONDS, says so loudly, and dead-letters nothing", async () => {
    const notes = makeNotes(3);
    const messages = notes.map((note) => messageOf(note));
    const requests = mockProvider(unverified());
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});

    const result = await runQueue("notes", messages);

    expect(requests).toHaveLength(1);
    expect(result.explicitAcks).toEqual([]);
    expect(retryOrder(result)).toEqual(retried(ids(messages), 3600));
    for (const note of notes) {
      expect(await recordOf(note.id)).toMatchObject({ state: "retrying", errorCode: "sender_not_verified" });
      expect(await deadLetterOf(note.id)).toBeNull();
      // Refused as a whole, so nothing went out: the notes are no request's any more.
      expect(await ledgerNote(note.id)).toMatchObject({ request_key: null });
    }
    expect(logged).toHaveBeenCalledTimes(1);
    const line = String(logged.mock.calls[0]?.[0]);
    expect(line).toContain("PIPELINE FAILURE sender_not_verified");
    expect(line).toContain("3 note(s) wait until");
    expect(line).not.toContain(TEST_MAIL_API_KEY);
    expect(line).not.toMatch(/[a-z0-9]@[a-z]/i);
  });

  it("does not rewrite the records of waiting notes while the same failure lasts", async () => {
    const notes = makeNotes(2);
    vi.spyOn(console, "error").mockImplementation(() => {});
    mockProvider(unverified(), unverified());
    await runQueue(
      "notes",
      notes.map((note) => messageOf(note)),
    );
    const recordWrites = countRecordWrites();

    const result = await runQueue(
      "notes",
      notes.map((note) => messageOf(note, { attempts: 2 })),
    );

    expect(result.retryMessages).toHaveLength(2);
    expect(recordWrites()).toBe(0);
    // Nor does the ledger count them as behind KV: the repair has nothing to write either.
    for (const note of notes) {
      const row = await ledgerNote(note.id);
      expect(row?.kv_version).toBe(row?.version);
    }
  });

  it("waits out a used-up quota's Retry-After when it is longer than an hour", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const message = messageOf(makeNote());
    mockProvider(
      resendError(429, "daily_quota_exceeded", "You have reached your daily email sending quota.", {
        "retry-after": "7200",
      }),
    );

    const result = await runQueue("notes", [message]);

    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 7200 }]);
  });

  it("sends nothing more from the batch once a request is rate-limited", async () => {
    fixJitter(0);
    const [a, c] = makeNotes(2) as [TestNote, TestNote];
    const first = mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
    await runQueue("notes", [messageOf(a)]);
    vi.restoreAllMocks();
    fixJitter(0);
    const requests = mockProvider(
      resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "2" }),
    );

    const messages = [messageOf(a, { attempts: 2 }), messageOf(c)];
    const result = await runQueue("notes", messages);

    expect(requests).toHaveLength(1);
    expect(retryOrder(result)).toEqual(retried(ids(messages), 2));
    // a's request may have gone out the first time: it stays held, under its key.
    expect(await ledgerNote(a.id)).toMatchObject({ request_key: first[0]?.headers.get("idempotency-key") });
    expect(await recordOf(c.id)).toMatchObject({ state: "retrying", errorCode: "rate_limited" });
  });

  it("holds the batch without a request or a ledger call when the mail settings are invalid", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const note = makeNote();
    const message = messageOf(note, { attempts: 2 });
    const requests = mockProvider();

    const result = await runQueue(
      "notes",
      [message],
      envWith({ MAIL_PROVIDER: "sendgrid" } as unknown as Partial<Env>),
    );

    expect(requests).toHaveLength(0);
    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 3600 }]);
    expect(await ledgerNote(note.id)).toBeNull();
    expect(String(logged.mock.calls[0]?.[0])).toContain('MAIL_PROVIDERS (or MAIL_PROVIDER) must list "resend"');
    expect(String(logged.mock.calls[0]?.[0])).toContain('it names "sendgrid"');
  });
});

describe("an undecodable message", () => {
  it("is acked and dead-lettered with its reason, and its note marked failed", async () => {
    const note = makeNote();
    const frame = note.frame.slice();
    frame[22] = 0x20; // a space in the recipient
    const message = rawMessage({ frame, acceptedAt: 1_790_000_000_000 });
    const requests = mockProvider();

    const result = await runQueue("notes", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(result.retryMessages).toEqual([]);
    expect(requests).toHaveLength(0);
    const letter = await deadLetterOf(note.id);
    expect(letter).toMatchObject({ id: note.id, frame: frame.toBase64(), reason: "undecodable", possiblySent: false });
    expect(letter?.message).toMatch(/^The queued message does not hold a valid frame\. bad_recipient: /);
    expect(await recordOf(note.id)).toMatchObject({ state: "failed", errorCode: "undecodable" });
  });

  it("is filed under its queue message id when the body holds no frame at all", async () => {
    const messages = [rawMessage({ hello: "world" }), rawMessage("just text")];
    mockProvider();

    const result = await runQueue("notes", messages);

    expect(sorted(result.explicitAcks)).toEqual(sorted(ids(messages)));
    for (const message of messages) {
      expect(await deadLetterOf(`msg-${message.id}`)).toMatchObject({
        frame: "",
        reason: "undecodable",
        acceptedAt: null,
      });
    }
  });
});
