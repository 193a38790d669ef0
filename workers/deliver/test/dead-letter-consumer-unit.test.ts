/**
 * The `notes-dlq` consumer, called directly with a batch and judged by exactly what it acked and
 * retried: what ran out of retries is filed in the delivery ledger as a dead letter with the last
 * error the ledger kept, and the note's `dead` state is projected to KV. Nothing it meets (a KV
 * outage, a ledger it cannot reach) makes it throw, and nothing is acked before the ledger has it.
 */

import type { QueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type NoteMessage, STATUS_TTL_SECONDS, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import { MAX_PACE_WAIT_MS } from "../src/providers/pace.ts";
import { DLQ_REQUEUE_AT_ATTEMPTS } from "../src/queue/dead-letter-notes.ts";
import {
  deadLetterOf,
  envWith,
  expectKvCaughtUp,
  faultyKv,
  faultyLedger,
  type KvOperation,
  type LedgerMethod,
  ledgerNote,
  repairLater,
} from "./ledger.ts";
import {
  fixJitter,
  makeNote,
  messageOf,
  mockProvider,
  rawMessage,
  recordOf,
  resendAccepted,
  resendEmails,
  resendError,
  runQueue,
  secondsToLive,
  type TestMessage,
  type TestNote,
} from "./notes.ts";

const RATE_LIMITED =
  "The mail provider's rate limit was reached. The provider said: Too many requests. You can only make 2 requests per second.";
const SERVER_ERROR = "The mail provider answered with a server error. The provider said: An unexpected error occurred.";
const EVERY_KV_OPERATION = new Set<KvOperation>(["get", "getWithMetadata", "put", "list", "delete"]);
/** How long deliver-notes.ts holds a request it sends: the send timeout, the longest pacing wait, 10 s of slack. */
const LEASE_SECONDS = Number(env.MAIL_TIMEOUT_SECONDS) + MAX_PACE_WAIT_MS / 1000 + 10;

/** A note whose last delivery on `notes` (the 11th) met a 429: `retrying`, held by no request. */
async function rateLimitedNote(): Promise<{ note: TestNote; retrying: StatusRecord }> {
  const note = makeNote();
  mockProvider(resendError(429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second."));
  await runQueue("notes", [messageOf(note, { attempts: 11 })]);
  const retrying = await recordOf(note.id);
  expect(retrying).toMatchObject({ state: "retrying", attempts: 11, error: RATE_LIMITED });
  return { note, retrying: retrying as StatusRecord };
}

/** A `DEAD_LETTER_QUEUE` that records each message put back on it, or refuses every one (`fail`). */
function recordingDeadLetterQueue(options: { fail?: boolean } = {}) {
  const sent: { body: unknown; options: QueueSendOptions | undefined }[] = [];
  const queue = {
    async send(body: unknown, sendOptions?: QueueSendOptions) {
      if (options.fail) throw new Error("Queue send failed: 503 Service Unavailable");
      sent.push({ body, options: sendOptions });
    },
    async sendBatch() {
      throw new Error("the dead-letter consumer puts messages back one at a time");
    },
  };
  return { queue: queue as unknown as Queue<NoteMessage>, sent };
}

function ledgerUnreachable(overrides: Partial<Env> = {}): Env {
  return envWith({ LEDGER: faultyLedger(env.LEDGER, { before: new Set(["fileDeadLetters"]) }), ...overrides });
}

function sorted(values: readonly string[]): string[] {
  return [...values].sort();
}

/** Every message of the batch was either acked or retried, none both, none forgotten. */
function ackedOrRetried(result: QueueResult): string[] {
  const acked = result.explicitAcks;
  const retried = result.retryMessages.map((retry) => retry.msgId);
  expect(acked.filter((id) => retried.includes(id))).toEqual([]);
  return sorted([...acked, ...retried]);
}

describe("filing a dead letter", () => {
  it("files a note whose retries ran out after a transient failure with its last error and attempts, dead in the ledger and in KV", async () => {
    const { note, retrying } = await rateLimitedNote();
    const requests = mockProvider();
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(result.retryMessages).toEqual([]);
    expect(requests).toEqual([]);
    const reason = `Retries ran out after 11 attempt(s). The last: ${RATE_LIMITED}`;
    const dead = await recordOf(note.id);
    expect(dead).toEqual({
      id: note.id,
      state: "dead",
      attempts: 11,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      error: reason,
      errorCode: "rate_limited",
      firstFailureAt: retrying.firstFailureAt,
    });
    expect(await deadLetterOf(note.id)).toEqual({
      id: note.id,
      frame: note.frame.toBase64(),
      reason: "rate_limited",
      message: reason,
      attempts: 11,
      firstFailureAt: retrying.firstFailureAt,
      lastFailureAt: dead?.updatedAt,
      possiblySent: false,
      acceptedAt: 1_790_000_000_000,
    });
    expect(await ledgerNote(note.id)).toMatchObject({ state: "dead", dead_letter: 1, request_key: null });
    await expectKvCaughtUp(note.id);
    const ttl = await secondsToLive(statusKey(note.id));
    expect(ttl).toBeGreaterThan(STATUS_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(STATUS_TTL_SECONDS);
  });

  it("files a note with no attempt on record as retries_exhausted", async () => {
    const note = makeNote();
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    const dead = await recordOf(note.id);
    expect(dead).toEqual({
      id: note.id,
      state: "dead",
      attempts: 0,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      error: "Every retry failed. No attempt left a record of why.",
      errorCode: "retries_exhausted",
      firstFailureAt: dead?.updatedAt,
    });
    expect(await deadLetterOf(note.id)).toEqual({
      id: note.id,
      frame: note.frame.toBase64(),
      reason: "retries_exhausted",
      message: "Every retry failed. No attempt left a record of why.",
      attempts: 0,
      firstFailureAt: dead?.updatedAt,
      lastFailureAt: dead?.updatedAt,
      possiblySent: false,
      acceptedAt: 1_790_000_000_000,
    });
  });

  it("acks a note another copy already sent, and files nothing", async () => {
    const note = makeNote();
    mockProvider(resendAccepted);
    await runQueue("notes", [messageOf(note)]);
    const sent = await recordOf(note.id);
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(result.retryMessages).toEqual([]);
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await ledgerNote(note.id)).toMatchObject({ state: "sent", dead_letter: 0 });
    expect(await recordOf(note.id)).toEqual(sent);
  });

  it("files two copies of one note once, and acks both", async () => {
    const { note } = await rateLimitedNote();
    const copies = [messageOf(note), messageOf(note)];

    const result = await runQueue("notes-dlq", copies);

    expect(sorted(result.explicitAcks)).toEqual(sorted(copies.map((copy) => copy.id)));
    expect(await ledgerNote(note.id)).toMatchObject({ state: "dead", version: 2 });
  });

  it("files a message without a frame as msg-<queue message id>, with no status record", async () => {
    const message = rawMessage({ not: "a note" });
    const id = `msg-${message.id}`;

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    const letter = await deadLetterOf(id);
    expect(letter).toEqual({
      id,
      frame: "",
      reason: "undecodable",
      message:
        "The queued message does not hold a valid frame. The message body is not a NoteMessage with a `frame` of bytes.",
      attempts: 0,
      firstFailureAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      lastFailureAt: letter?.firstFailureAt,
      possiblySent: false,
      acceptedAt: null,
    });
    expect(await recordOf(id)).toBeNull();
  });
});

describe("a note a request still holds", () => {
  it("files a note held by a request the provider left unanswered as dead, and the request's answer, when it comes, makes it sent", async () => {
    const note = makeNote();
    const first = mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
    await runQueue("notes", [messageOf(note)]);
    const key = first[0]?.headers.get("idempotency-key");

    const message = messageOf(note);
    const filing = await runQueue("notes-dlq", [message]);

    expect(filing.explicitAcks).toEqual([message.id]);
    expect(filing.retryMessages).toEqual([]);
    expect(await ledgerNote(note.id)).toMatchObject({ state: "dead", dead_letter: 1, request_key: key });
    // Held by its request, the note can only go out again as that same request, which Resend
    // answers from its Idempotency-Key: nothing a replay does can send it twice.
    expect(await deadLetterOf(note.id)).toMatchObject({
      reason: "provider_unavailable",
      message: `Retries ran out after 1 attempt(s). The last: ${SERVER_ERROR}`,
      possiblySent: false,
    });
    expect(await recordOf(note.id)).toMatchObject({ state: "dead", errorCode: "provider_unavailable" });

    // A copy of the note's message comes back on `notes` (at-least-once delivery).
    const again = mockProvider(resendAccepted);
    const copy = messageOf(note, { attempts: 2 });
    const resent = await runQueue("notes", [copy]);

    expect(again).toHaveLength(1);
    expect(again[0]?.headers.get("idempotency-key")).toBe(key);
    expect(again[0]?.body).toEqual(resendEmails([note]));
    expect(resent.explicitAcks).toEqual([copy.id]);
    expect(await ledgerNote(note.id)).toMatchObject({ state: "sent", dead_letter: 0, request_key: null });
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toMatchObject({ state: "sent", providerId: "re_0" });
  });

  it("files a held note as possibly sent with Postmark, which keeps no keys", async () => {
    // `wrangler types` types MAIL_PROVIDER as the configured "resend".
    const postmark = { ...env, MAIL_PROVIDER: "postmark" } as unknown as Env;
    const note = makeNote();
    mockProvider(Response.json({ ErrorCode: 500, Message: "Internal server error." }, { status: 500 }));
    await runQueue("notes", [messageOf(note)], postmark);

    const message = messageOf(note);
    const filing = await runQueue("notes-dlq", [message], postmark);

    expect(filing.explicitAcks).toEqual([message.id]);
    expect(await ledgerNote(note.id)).toMatchObject({
      state: "dead",
      possibly_sent: 1,
      request_key: expect.any(String),
    });
    expect(await deadLetterOf(note.id)).toMatchObject({ reason: "provider_unavailable", possiblySent: true });
  });

  it("retries a note whose request is in flight until a second past its lease, then acks it as sent", async () => {
    const note = makeNote();
    const early = messageOf(note);
    let filing: QueueResult | undefined;
    mockProvider(async (request) => {
      // The copy on the dead-letter queue arrives while the provider has the request.
      filing = await runQueue("notes-dlq", [early]);
      return resendAccepted(request);
    });

    await runQueue("notes", [messageOf(note)]);

    expect(filing?.retryMessages).toEqual([{ msgId: early.id, delaySeconds: LEASE_SECONDS + 1 }]);
    expect(filing?.explicitAcks).toEqual([]);
    expect(await deadLetterOf(note.id)).toBeNull();

    const later = messageOf(note, { attempts: 2 });
    const after = await runQueue("notes-dlq", [later]);

    expect(after.explicitAcks).toEqual([later.id]);
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
  });
});

describe("when KV or the ledger fails", () => {
  it("acks every message while KV fails every operation, for the ledger has them, and the repair writes their records later", async () => {
    const { note: known } = await rateLimitedNote();
    const unknown = makeNote();
    const messages = [messageOf(known), messageOf(unknown)];
    const kvDown = envWith({ STATUS: faultyKv(env.STATUS, { ops: EVERY_KV_OPERATION }) });

    const result = await runQueue("notes-dlq", messages, kvDown);

    expect(sorted(result.explicitAcks)).toEqual(sorted(messages.map((message) => message.id)));
    expect(result.retryMessages).toEqual([]);
    for (const note of [known, unknown]) {
      const row = await ledgerNote(note.id);
      expect(row).toMatchObject({ state: "dead", dead_letter: 1 });
      expect(row?.kv_version).toBeLessThan(row?.version ?? 0);
    }
    expect(await recordOf(known.id)).toMatchObject({ state: "retrying" });
    expect(await recordOf(unknown.id)).toBeNull();

    expect(await repairLater()).toEqual({ behind: 2, written: 2, pruned: 0 });

    expect(await recordOf(known.id)).toMatchObject({ state: "dead", errorCode: "rate_limited" });
    expect(await recordOf(unknown.id)).toMatchObject({ state: "dead", errorCode: "retries_exhausted" });
    await expectKvCaughtUp(known.id);
    await expectKvCaughtUp(unknown.id);
  });

  it("retries every message on the outage backoff, capped at an hour, while the ledger cannot be reached", async () => {
    fixJitter(0);
    const notes = [makeNote(), makeNote(), makeNote()];
    const messages = [
      messageOf(notes[0] as TestNote, { attempts: 1 }),
      messageOf(notes[1] as TestNote, { attempts: 3 }),
      messageOf(notes[2] as TestNote, { attempts: DLQ_REQUEUE_AT_ATTEMPTS - 1 }),
    ];
    const { queue, sent } = recordingDeadLetterQueue();

    const result = await runQueue("notes-dlq", messages, ledgerUnreachable({ DEAD_LETTER_QUEUE: queue }));

    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([
      { msgId: messages[0]?.id, delaySeconds: 30 },
      { msgId: messages[1]?.id, delaySeconds: 120 },
      { msgId: messages[2]?.id, delaySeconds: 3600 },
    ]);
    expect(sent).toEqual([]);
    for (const note of notes) expect(await ledgerNote(note.id)).toBeNull();
  });

  it("puts a message at its last retries back on the dead-letter queue as a new message, and acks it", async () => {
    const note = makeNote();
    const message = messageOf(note, { attempts: DLQ_REQUEUE_AT_ATTEMPTS });
    const { queue, sent } = recordingDeadLetterQueue();

    const result = await runQueue("notes-dlq", [message], ledgerUnreachable({ DEAD_LETTER_QUEUE: queue }));

    expect(result.explicitAcks).toEqual([message.id]);
    expect(result.retryMessages).toEqual([]);
    expect(sent).toEqual([{ body: message.body, options: { contentType: "v8", delaySeconds: 3600 } }]);
  });

  it("retries a message at its last retries for an hour when the dead-letter queue refuses it too", async () => {
    const message = messageOf(makeNote(), { attempts: DLQ_REQUEUE_AT_ATTEMPTS });
    const { queue } = recordingDeadLetterQueue({ fail: true });

    const result = await runQueue("notes-dlq", [message], ledgerUnreachable({ DEAD_LETTER_QUEUE: queue }));

    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 3600 }]);
  });

  it.each<[string, { before?: LedgerMethod[]; after?: LedgerMethod[]; kv?: boolean }]>([
    ["the ledger cannot be reached", { before: ["fileDeadLetters"] }],
    ["the ledger's answer is lost", { after: ["fileDeadLetters"] }],
    ["the ledger fails once it has filed", { before: ["synced"] }],
    ["KV fails and so does the ledger once it has filed", { before: ["synced"], kv: true }],
  ])("never throws when %s: each message is acked or retried, and each note is filed once", async (_what, faults) => {
    const { note: known } = await rateLimitedNote();
    const unknown = makeNote();
    const frameless = rawMessage({ not: "a note" });
    const messages: TestMessage[] = [messageOf(known), messageOf(unknown), frameless];
    const faulty = envWith({
      LEDGER: faultyLedger(env.LEDGER, { before: new Set(faults.before), after: new Set(faults.after) }),
      ...(faults.kv ? { STATUS: faultyKv(env.STATUS, { ops: EVERY_KV_OPERATION }) } : {}),
    });

    const result = await runQueue("notes-dlq", messages, faulty);

    expect(ackedOrRetried(result)).toEqual(sorted(messages.map((message) => message.id)));

    const redelivered = messages.map((message) => ({ ...message, attempts: message.attempts + 1 }));
    const healed = await runQueue("notes-dlq", redelivered);

    expect(sorted(healed.explicitAcks)).toEqual(sorted(redelivered.map((message) => message.id)));
    // A version for each move: `retrying`, then one filing, however many calls it took.
    expect(await ledgerNote(known.id)).toMatchObject({ state: "dead", version: 2 });
    expect(await ledgerNote(unknown.id)).toMatchObject({ state: "dead", version: 1 });
    expect(await deadLetterOf(known.id)).toMatchObject({ reason: "rate_limited" });
    expect(await deadLetterOf(unknown.id)).toMatchObject({ reason: "retries_exhausted" });
    expect(await deadLetterOf(`msg-${frameless.id}`)).toMatchObject({ reason: "undecodable" });
    await repairLater();
    expect(await recordOf(known.id)).toMatchObject({ state: "dead" });
    expect(await recordOf(unknown.id)).toMatchObject({ state: "dead" });
  });
});
