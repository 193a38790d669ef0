/**
 * What the ops tests do as an operator (call the sub-app with a token), as deliver (file dead
 * letters the way it does: the real consumers against a mocked provider, into the real ledger) and
 * as Queues (a producer binding that records what a replay sends, or refuses it, and hands those
 * messages back to the consumer).
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { NoteMessage } from "@notepipe/pipeline";
import type { DeliveryLedger } from "../src/ledger/ledger.ts";
import { ops } from "../src/ops/app.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import { ledger } from "./ledger.ts";
import { messageOf, mockProvider, resendError, runQueue, type TestMessage, type TestNote } from "./notes.ts";

export const OPS_TOKEN = TEST_OPS_TOKENS[0];

/** A call to the ops sub-app, built directly against `environment` (the test's bindings by default). */
export function opsRequest(
  path: string,
  init: RequestInit & { token?: string | null } = {},
  environment: Env = env,
): Promise<Response> {
  const { token = OPS_TOKEN, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  return Promise.resolve(ops.request(`https://deliver.test${path}`, { ...rest, headers }, environment));
}

export function postJson(path: string, body: unknown, environment: Env = env): Promise<Response> {
  return opsRequest(
    path,
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
    environment,
  );
}

export const REJECTION = "Invalid `to` field.";

/**
 * The provider refuses every email of the batch (Resend's permissive batch lists each in
 * `errors`): each note is `failed` with a dead letter, reason `rejected`.
 */
export async function deadLetterAsRejected(
  notes: TestNote[],
  options: { replayedAt?: number; environment?: Env } = {},
): Promise<void> {
  mockProvider((request) =>
    Response.json({ data: [], errors: (request.body as unknown[]).map((_, index) => ({ index, message: REJECTION })) }),
  );
  const replay = options.replayedAt === undefined ? {} : { replayedAt: options.replayedAt };
  await consume(
    notes.map((note) => messageOf(note, replay)),
    options.environment,
  );
}

/**
 * The provider answers 200 without saying which emails it created: each note may have gone out,
 * so it is `failed` with a dead letter, reason `possibly_sent`, `possiblySent: true`.
 */
export async function deadLetterAsPossiblySent(notes: TestNote[]): Promise<void> {
  mockProvider(Response.json({ data: [], errors: [] }));
  await consume(notes.map((note) => messageOf(note)));
}

/**
 * The provider refuses the sender until the retries run out: Queues moves each message to the
 * dead-letter queue, whose consumer files the notes as `dead`, reason `sender_not_verified`.
 */
export async function deadLetterAfterRetries(notes: TestNote[]): Promise<void> {
  mockProvider(resendError(403, "validation_error", "The example.com domain is not verified."));
  await runQueue(
    "notes",
    notes.map((note) => messageOf(note, { attempts: 11 })),
  );
  await runQueue(
    "notes-dlq",
    notes.map((note) => messageOf(note)),
  );
}

/** Runs the notes consumer and insists that it acked every message. */
export async function consume(messages: TestMessage[], environment: Env = env): Promise<void> {
  const result = await runQueue("notes", messages, environment);
  if (result.explicitAcks.length !== messages.length) {
    throw new Error(`the consumer acked ${result.explicitAcks.length} of ${messages.length} message(s)`);
  }
}

/** As if the dead letter of `id` had last failed at `at` (ISO 8601): what `since` filters on. */
export async function lastFailedAt(id: string, at: string): Promise<void> {
  await runInDurableObject(ledger(), (_instance: DeliveryLedger, state) => {
    state.storage.sql.exec("UPDATE notes SET last_failure_at = ? WHERE id = ?", Date.parse(at), id);
  });
}

export interface SentBatch {
  messages: MessageSendRequest<NoteMessage>[];
  options: QueueSendBatchOptions | undefined;
}

/** A `NOTES_QUEUE` that records each sendBatch, or refuses every one while `failing.now` is true. */
export function recordingQueue(failing: { now: boolean } = { now: false }): {
  queue: Queue<NoteMessage>;
  batches: SentBatch[];
} {
  const batches: SentBatch[] = [];
  const queue = {
    async send() {
      throw new Error("a replay sends with sendBatch");
    },
    async sendBatch(messages: Iterable<MessageSendRequest<NoteMessage>>, sendOptions?: QueueSendBatchOptions) {
      if (failing.now) throw new Error("Queue sendBatch failed: 503 Service Unavailable");
      batches.push({ messages: [...messages], options: sendOptions });
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date() } } };
    },
  };
  return { queue: queue as unknown as Queue<NoteMessage>, batches };
}

/** Every message of every recorded sendBatch, with the batch's options. */
export function sentMessages(batches: SentBatch[]) {
  return batches.flatMap((batch) => batch.messages.map((message) => ({ ...message, options: batch.options })));
}

let delivered = 0;

/** The messages a replay sent, as Queues hands them to the notes consumer once their delay is over. */
export function replayedMessages(batches: SentBatch[]): TestMessage[] {
  return sentMessages(batches).map((message) => ({
    id: `replayed-${++delivered}`,
    timestamp: new Date(),
    attempts: 1,
    body: message.body,
  }));
}
