/**
 * Enrollment-code emails on the `codes` queue (src/queue/code-emails.ts), through workerd's own queue
 * event: one request per message keyed by the message id, the configured plain template, retries
 * for what may pass later, one quiet ack for what never will, and no note's ledger or record touched.
 * Then the path of their own: at most 10 fetches per invocation whatever the batch, codes found on
 * `notes` moved unsent, and a provider stuck on a code while notes go out beside it.
 */

import type { MessageBatchMessage, QueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { CodeMessage } from "@notepipe/pipeline";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CODES_PER_INVOCATION } from "../src/queue/code-emails.ts";
import {
  fixJitter,
  ids,
  makeNote,
  makeNotes,
  messageOf,
  mockProvider,
  rawMessage,
  recordOf,
  resendAccepted,
  resendError,
  runQueue,
  type SeenRequest,
} from "./notes.ts";

/** `queue()` on a service binding exists only under the experimental flag; the generated types lack it. */
const self = exports.default as unknown as {
  queue(queue: string, messages: MessageBatchMessage[]): Promise<QueueResult>;
};

afterEach(() => vi.useRealTimers());

function codeMessage(to = "ada@example.com", code = "7KQ2M9XD", expiresAt = Date.now() + 10 * 60 * 1000) {
  const body: CodeMessage = { kind: "code", to, code, expiresAt };
  return rawMessage(body);
}

it("sends one email with the configured subject and text, keyed by the queue message, and acks it", async () => {
  const seen = mockProvider(resendAccepted);
  const message = codeMessage();

  const result = await self.queue("codes", [message]);

  expect(result).toMatchObject({ outcome: "ok", explicitAcks: [message.id], retryMessages: [] });
  expect(seen).toHaveLength(1);
  expect(seen[0]?.url).toBe(`${env.MAIL_API_URL}/emails/batch`);
  expect(seen[0]?.headers.get("idempotency-key")).toBe(`code-${message.id}`);
  expect(seen[0]?.body).toEqual([
    {
      from: env.MAIL_FROM,
      to: ["ada@example.com"],
      subject: env.CODE_SUBJECT,
      text: env.CODE_TEXT.replace("{code}", "7KQ2M9XD"),
      tags: [{ name: "kind", value: "enrollment_code" }],
    },
  ]);
  expect(env.CODE_TEXT).toContain("{code}");
});

it("with Postmark, sends the same email in Postmark's batch shape", async () => {
  const postmark = { ...env, MAIL_PROVIDER: "postmark" } as unknown as Env;
  const seen = mockProvider(() => Response.json([{ ErrorCode: 0, Message: "OK", MessageID: "pm-1" }]));
  const message = codeMessage();

  const result = await runQueue("codes", [message], postmark);

  expect(result).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
  expect(seen[0]?.url).toBe(`${env.MAIL_API_URL}/email/batch`);
  expect(seen[0]?.body).toEqual([
    {
      From: env.MAIL_FROM,
      To: "ada@example.com",
      Subject: env.CODE_SUBJECT,
      TextBody: env.CODE_TEXT.replace("{code}", "7KQ2M9XD"),
      Tag: "enrollment_code",
    },
  ]);
});

it("retries a rate-limited send after the provider's Retry-After", async () => {
  fixJitter(0);
  mockProvider(() => resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "7" }));
  const message = codeMessage();

  const result = await self.queue("codes", [message]);

  expect(result).toMatchObject({ explicitAcks: [], retryMessages: [{ msgId: message.id, delaySeconds: 7 }] });
});

it("retries an unanswered send with backoff, under the same idempotency key", async () => {
  fixJitter(1);
  const seen = mockProvider(new DOMException("The operation timed out.", "TimeoutError"), resendAccepted);
  const message = codeMessage();

  const first = await self.queue("codes", [message]);
  const again = await self.queue("codes", [{ ...message, attempts: 2 }]);

  // RETRY_BASE_SECONDS (30) at the first attempt, full jitter at its top.
  expect(first).toMatchObject({ explicitAcks: [], retryMessages: [{ msgId: message.id, delaySeconds: 30 }] });
  expect(again).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
  expect(seen.map((request) => request.headers.get("idempotency-key"))).toEqual([
    `code-${message.id}`,
    `code-${message.id}`,
  ]);
});

it("acks a rejected email with one log line that names neither the address nor the code", async () => {
  const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
  mockProvider(() =>
    Response.json({ data: [], errors: [{ index: 0, message: "Invalid `to` field: ada@example.com" }] }),
  );
  const message = codeMessage();

  const result = await self.queue("codes", [message]);

  expect(result).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
  expect(logged.mock.calls).toEqual([[`deliver: code email ${message.id} dropped: rejected`]]);
});

it("drops, unsent, a code message past its code's expiry and one that is malformed", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  const seen = mockProvider();
  const stale = codeMessage("ada@example.com", "7KQ2M9XD", Date.now() - 1);
  const malformed = rawMessage({ kind: "code", to: 'ada@example.com"],"bcc":["eve@example.com', code: "7KQ2M9XD" });

  const result = await self.queue("codes", [stale, malformed]);

  expect(result).toMatchObject({ explicitAcks: [stale.id, malformed.id], retryMessages: [] });
  expect(seen).toEqual([]);
});

it("acks a code message that reached the dead-letter queue, and files no dead letter for it", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  const message = codeMessage();

  const result = await self.queue("notes-dlq", [message]);

  expect(result).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
});

it("drops, unsent again, a code whose next try would come after it expires", async () => {
  fixJitter(1);
  const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
  mockProvider(
    () => resendError(500, "internal_server_error", "Something went wrong."),
    () => resendError(403, "invalid_api_key", "API key is invalid."),
  );
  // A transient failure waits up to 30 s at the first attempt; this code has 20 s left.
  const soon = codeMessage("ada@example.com", "7KQ2M9XD", Date.now() + 20_000);
  // A pipeline failure waits PIPELINE_RETRY_SECONDS (an hour); this code has 10 minutes.
  const later = codeMessage("bob@example.com", "7KQ2M9XD");

  const result = await self.queue("codes", [soon, later]);

  expect(result).toMatchObject({ explicitAcks: [soon.id, later.id], retryMessages: [] });
  expect(logged.mock.calls).toEqual([
    [`deliver: code email ${soon.id} dropped: provider_unavailable, and its code expires before a retry`],
    [`deliver: PIPELINE FAILURE auth_failed: code email ${later.id} not sent`],
    [`deliver: code email ${later.id} dropped: auth_failed, and its code expires before a retry`],
  ]);
});

describe("subrequests per invocation: the Free plan allows 50", () => {
  it("a full batch of codes (max_batch_size, 10) makes one fetch per code, 10 in all", async () => {
    const seen = mockProvider(...Array.from({ length: CODES_PER_INVOCATION }, () => resendAccepted));
    const messages = Array.from({ length: CODES_PER_INVOCATION }, (_, i) => codeMessage(`reader${i}@example.com`));

    const result = await self.queue("codes", messages);

    expect(result).toMatchObject({ explicitAcks: ids(messages), retryMessages: [] });
    expect(seen).toHaveLength(CODES_PER_INVOCATION);
    expect(CODES_PER_INVOCATION).toBe(10);
  });

  it("a batch of 100 codes (a larger max_batch_size) still makes 10 fetches and puts the other 90 back", async () => {
    const seen = mockProvider(...Array.from({ length: CODES_PER_INVOCATION }, () => resendAccepted));
    const messages = Array.from({ length: 100 }, (_, i) => codeMessage(`reader${i}@example.com`));

    const result = await self.queue("codes", messages);

    expect(seen).toHaveLength(10);
    expect(result.explicitAcks).toEqual(ids(messages.slice(0, 10)));
    expect(result.retryMessages).toEqual(ids(messages.slice(10)).map((msgId) => ({ msgId, delaySeconds: 1 })));
  });

  it("a full batch of notes (100) makes one fetch", async () => {
    const notes = makeNotes(100);
    const seen = mockProvider(resendAccepted);
    const messages = notes.map((note) => messageOf(note));

    const result = await runQueue("notes", messages);

    expect(seen).toHaveLength(1);
    expect(result).toMatchObject({ explicitAcks: expect.arrayContaining(ids(messages)), retryMessages: [] });
  });

  it("codes found among 100 notes' messages move to the codes queue unsent: one fetch, for the notes", async () => {
    const send = vi.spyOn(env.CODES_QUEUE, "sendBatch").mockResolvedValue({ metadata: { metrics: {} } } as never);
    const seen = mockProvider(resendAccepted);
    const notes = makeNotes(50).map((note) => messageOf(note));
    const codes = Array.from({ length: 50 }, (_, i) => codeMessage(`reader${i}@example.com`));

    const result = await self.queue("notes", [...notes, ...codes]);

    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toHaveLength(50);
    expect(send.mock.calls).toEqual([[codes.map((code) => ({ body: code.body, contentType: "json" }))]]);
    expect(result.explicitAcks.sort()).toEqual(ids([...notes, ...codes]).sort());
    expect(result.retryMessages).toEqual([]);
  });
});

it("codes on notes that cannot move stay on notes, retried, and the notes beside them go out", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  vi.spyOn(env.CODES_QUEUE, "sendBatch").mockRejectedValue(new Error("Queue send failed"));
  mockProvider(resendAccepted);
  const note = messageOf(makeNote("bob@example.com"));
  const code = codeMessage();

  const result = await self.queue("notes", [note, code]);

  expect(result).toMatchObject({ explicitAcks: [note.id], retryMessages: [{ msgId: code.id }] });
});

it("a provider stuck on a code email and then failing it neither delays nor fails the notes sent meanwhile", async () => {
  let codeRequested!: () => void;
  const codeInFlight = new Promise<void>((resolve) => {
    codeRequested = resolve;
  });
  let releaseCode!: () => void;
  const codeReleased = new Promise<void>((resolve) => {
    releaseCode = resolve;
  });
  const seen: SeenRequest[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const entry: SeenRequest = { url: request.url, headers: request.headers, body: await request.json() };
    seen.push(entry);
    if (JSON.stringify(entry.body).includes('"enrollment_code"')) {
      codeRequested();
      await codeReleased;
      return resendError(500, "internal_server_error", "Something went wrong.");
    }
    return resendAccepted(entry);
  });
  const notes = makeNotes(3);
  const noteMessages = notes.map((note) => messageOf(note));
  const code = codeMessage();

  // Both invocations in this test's own request (runQueue), so that the stand-in's promises may
  // cross between them: workerd does not wake a request on a promise another request resolves.
  const codes = runQueue("codes", [code]);
  await codeInFlight;
  const delivered = await runQueue("notes", noteMessages);

  expect(delivered).toMatchObject({ outcome: "ok", retryMessages: [] });
  expect(delivered.explicitAcks.sort()).toEqual(ids(noteMessages).sort());
  for (const note of notes) expect(await recordOf(note.id)).toMatchObject({ state: "sent" });

  releaseCode();
  expect(await codes).toMatchObject({ explicitAcks: [], retryMessages: [{ msgId: code.id }] });
  expect(seen).toHaveLength(2);
});
