/**
 * What the consumer tests do as ingest (frame a note, queue it), as Queues (hand the Worker a
 * batch, collect its acks and retries) and as the mail provider (answer the Worker's fetches).
 */

import { createExecutionContext, createMessageBatch, getQueueResult, type QueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { encodeFrame, noteIdToUuid } from "@notepipe/frame";
import type { NoteMessage, StatusRecord } from "@notepipe/pipeline";
import { statusKey } from "@notepipe/pipeline";
import { vi } from "vitest";
import worker from "../src/index.ts";

export interface TestNote {
  id: string;
  recipient: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  frame: Uint8Array;
}

/** A note to `recipient` with `ciphertextBytes` of ciphertext (at most 65,536, getRandomValues' limit). */
export function makeNote(recipient = "ada@example.com", ciphertextBytes = 48): TestNote {
  const noteId = crypto.getRandomValues(new Uint8Array(16));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = crypto.getRandomValues(new Uint8Array(ciphertextBytes));
  return {
    id: noteIdToUuid(noteId),
    recipient,
    nonce,
    ciphertext,
    frame: encodeFrame({ noteId, recipient, nonce, ciphertext }),
  };
}

export function makeNotes(count: number): TestNote[] {
  return Array.from({ length: count }, (_, i) => makeNote(`reader${i}@example.com`));
}

export type TestMessage = { id: string; timestamp: Date; attempts: number; body: unknown };

let messageCounter = 0;

/** A queue message as Queues hands it over: `attempts` counts this delivery (1 = first). */
export function messageOf(note: TestNote, options: { attempts?: number; replayedAt?: number } = {}): TestMessage {
  const body: NoteMessage = { frame: note.frame, acceptedAt: 1_790_000_000_000 };
  if (options.replayedAt !== undefined) body.replayedAt = options.replayedAt;
  return rawMessage(body, options.attempts);
}

export function rawMessage(body: unknown, attempts = 1): TestMessage {
  messageCounter++;
  return {
    id: `m${messageCounter.toString(16).padStart(8, "0")}`,
    timestamp: new Date(1_790_000_000_000),
    attempts,
    body,
  };
}

/**
 * Runs the Worker's queue handler on one batch and answers what it acked and retried, as
 * getQueueResult reports it. getQueueResult leaves out each retry's `delaySeconds` (the plugin's
 * `retry()` drops its options: packages/vitest-plugin/src/worker/events.ts), so the delay each
 * message's `retry()` was given is read from a spy and put back in.
 */
export async function runQueue(
  queue: "notes" | "notes-large" | "notes-dlq" | "codes",
  messages: TestMessage[],
  environment: Env = env,
): Promise<QueueResult> {
  const batch = createMessageBatch<NoteMessage>(
    queue,
    messages as { id: string; timestamp: Date; attempts: number; body: NoteMessage }[],
  );
  const retries = batch.messages.map((message) => vi.spyOn(message, "retry"));
  const ctx = createExecutionContext();
  await worker.queue(batch, environment);
  const result = await getQueueResult(batch, ctx);
  const delays = new Map(
    batch.messages.map((message, i) => [message.id, retries[i]?.mock.calls.at(-1)?.[0]?.delaySeconds]),
  );
  return {
    ...result,
    retryMessages: result.retryMessages.map(({ msgId }) => ({ msgId, delaySeconds: delays.get(msgId) })),
  };
}

export function ids(messages: TestMessage[]): string[] {
  return messages.map((message) => message.id);
}

export async function recordOf(id: string): Promise<StatusRecord | null> {
  return env.STATUS.get<StatusRecord>(statusKey(id), "json");
}

/** Seconds until `key` expires, from KV's listing. */
export async function secondsToLive(key: string): Promise<number | undefined> {
  const { keys } = await env.STATUS.list({ prefix: key });
  const expiration = keys.find((entry) => entry.name === key)?.expiration;
  return expiration === undefined ? undefined : expiration - Math.floor(Date.now() / 1000);
}

/** One request the Worker made to the provider. */
export interface SeenRequest {
  url: string;
  headers: Headers;
  body: unknown;
}

/** What the fake provider answers a request with: a Response, a thrown error, or a function of the request. */
export type Reply = Response | Error | ((request: SeenRequest) => Response | Promise<Response>);

/**
 * Stands in for the provider at the fetch boundary: answers the Worker's requests with `replies`
 * in order, and records each request. A request beyond the replies fails the test's count checks.
 */
export function mockProvider(...replies: Reply[]): SeenRequest[] {
  const seen: SeenRequest[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const entry: SeenRequest = { url: request.url, headers: request.headers, body: await request.json() };
    seen.push(entry);
    const reply = replies.shift();
    if (reply === undefined) throw new Error(`unexpected request ${seen.length} to ${request.url}`);
    if (reply instanceof Error) throw reply;
    return typeof reply === "function" ? reply(entry) : reply;
  });
  return seen;
}

/** Resend's answer to a permissive batch in which every email was created. */
export function resendAccepted(request: SeenRequest): Response {
  const emails = request.body as unknown[];
  return Response.json({ data: emails.map((_, i) => ({ id: `re_${i}` })), errors: [] });
}

export function resendError(status: number, name: string, message: string, headers: HeadersInit = {}): Response {
  return Response.json({ statusCode: status, name, message }, { status, headers });
}

/** Resend's `emails/batch` body for `notes`, as the Worker must build it (sorted by note id). */
export function resendEmails(
  notes: TestNote[],
  from: string = env.MAIL_FROM,
  subject: string = env.MAIL_SUBJECT,
): unknown[] {
  return [...notes]
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((note) => ({
      from,
      to: [note.recipient],
      subject,
      text: `${note.nonce.toBase64()}\n${note.ciphertext.toBase64()}`,
      headers: { "X-Notepipe-Note-Id": note.id },
      tags: [{ name: "note_id", value: note.id }],
    }));
}

/** `notes` sorted by id: the order the Worker puts them in a request. */
export function byId(notes: TestNote[]): TestNote[] {
  return [...notes].sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** Makes every jittered delay take the top (1) or the bottom (0) of its range. */
export function fixJitter(value: number): void {
  vi.spyOn(Math, "random").mockReturnValue(value);
}

/**
 * A Resend that keeps Idempotency-Keys as the real one does: the same key with the same body
 * replays the stored answer and sends nothing; with another body it is 409
 * `invalid_idempotent_request`. `emails` counts the emails it really sent, per note id.
 */
export function idempotentResend(): { requests: SeenRequest[]; emails: Map<string, number> } {
  const stored = new Map<string, { body: string; response: unknown }>();
  const emails = new Map<string, number>();
  const requests = mockProvider();
  vi.mocked(globalThis.fetch).mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const text = await request.text();
    const entry: SeenRequest = { url: request.url, headers: request.headers, body: JSON.parse(text) };
    requests.push(entry);
    const key = request.headers.get("idempotency-key") ?? "";
    const kept = stored.get(key);
    if (kept !== undefined) {
      if (kept.body !== text) {
        return resendError(
          409,
          "invalid_idempotent_request",
          "Same idempotency key used with a different request payload.",
        );
      }
      return Response.json(kept.response);
    }
    const sent = entry.body as { headers: Record<string, string> }[];
    for (const email of sent) {
      const id = email.headers["X-Notepipe-Note-Id"] as string;
      emails.set(id, (emails.get(id) ?? 0) + 1);
    }
    const response = { data: sent.map((_, i) => ({ id: `re_${key.slice(-6)}_${i}` })), errors: [] };
    stored.set(key, { body: text, response });
    return Response.json(response);
  });
  return { requests, emails };
}
