/**
 * Enrollment-code emails on the `notes` queue (src/queue/code-emails.ts), through workerd's own queue
 * event: one request per message keyed by the message id, the configured plain template, retries
 * for what may pass later, one quiet ack for what never will, and no note's ledger or record touched.
 */

import type { MessageBatchMessage, QueueResult } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { CodeMessage } from "@notepipe/pipeline";
import { afterEach, expect, it, vi } from "vitest";
import {
  fixJitter,
  makeNote,
  messageOf,
  mockProvider,
  rawMessage,
  resendAccepted,
  resendError,
  runQueue,
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

  const result = await self.queue("notes", [message]);

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

  const result = await runQueue("notes", [message], postmark);

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

it("sends codes and notes of one batch each their way", async () => {
  const note = makeNote("bob@example.com");
  const seen = mockProvider(resendAccepted, resendAccepted);
  const [code, noted] = [codeMessage(), messageOf(note)];

  const result = await self.queue("notes", [code, noted]);

  expect(result.explicitAcks.sort()).toEqual([code.id, noted.id].sort());
  const bodies = seen.map((request) => request.body as { to: string[]; subject: string }[]);
  expect(bodies.map((body) => [body[0]?.to, body[0]?.subject])).toEqual([
    [["ada@example.com"], env.CODE_SUBJECT],
    [["bob@example.com"], env.MAIL_SUBJECT],
  ]);
});

it("retries a rate-limited send after the provider's Retry-After", async () => {
  fixJitter(0);
  mockProvider(() => resendError(429, "rate_limit_exceeded", "Too many requests.", { "retry-after": "7" }));
  const message = codeMessage();

  const result = await self.queue("notes", [message]);

  expect(result).toMatchObject({ explicitAcks: [], retryMessages: [{ msgId: message.id, delaySeconds: 7 }] });
});

it("retries an unanswered send with backoff, under the same idempotency key", async () => {
  fixJitter(1);
  const seen = mockProvider(new DOMException("The operation timed out.", "TimeoutError"), resendAccepted);
  const message = codeMessage();

  const first = await self.queue("notes", [message]);
  const again = await self.queue("notes", [{ ...message, attempts: 2 }]);

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

  const result = await self.queue("notes", [message]);

  expect(result).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
  expect(logged.mock.calls).toEqual([[`deliver: code email ${message.id} dropped: rejected`]]);
});

it("drops, unsent, a code message past its code's expiry and one that is malformed", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  const seen = mockProvider();
  const stale = codeMessage("ada@example.com", "7KQ2M9XD", Date.now() - 1);
  const malformed = rawMessage({ kind: "code", to: 'ada@example.com"],"bcc":["eve@example.com', code: "7KQ2M9XD" });

  const result = await self.queue("notes", [stale, malformed]);

  expect(result).toMatchObject({ explicitAcks: [stale.id, malformed.id], retryMessages: [] });
  expect(seen).toEqual([]);
});

it("acks a code message that reached the dead-letter queue, and files no dead letter for it", async () => {
  vi.spyOn(console, "error").mockImplementation(() => undefined);
  const message = codeMessage();

  const result = await self.queue("notes-dlq", [message]);

  expect(result).toMatchObject({ explicitAcks: [message.id], retryMessages: [] });
});
