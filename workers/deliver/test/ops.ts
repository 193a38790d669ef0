/**
 * What the ops and webhook tests do as an operator (call the sub-apps with a token), as the
 * dead-letter store's writer (seed entries and records the way deliver writes them), and as Queues
 * (a producer binding that records what a replay sends, or refuses it).
 */

import { env } from "cloudflare:workers";
import type { DeadLetter, NoteMessage, StatusRecord } from "@notepipe/pipeline";
import { ops } from "../src/ops/app.ts";
import { putDeadLetter, putRecord } from "../src/status-store.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import type { TestNote } from "./notes.ts";

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

export const TEN_MINUTES_AGO = () => new Date(Date.now() - 10 * 60_000).toISOString();

/** A dead letter as deliver files it (value and metadata), and the note's `dead` record beside it. */
export async function seedDeadLetter(
  note: TestNote,
  overrides: Partial<DeadLetter> = {},
  record: Partial<StatusRecord> | null = {},
): Promise<DeadLetter> {
  const at = TEN_MINUTES_AGO();
  const letter: DeadLetter = {
    id: note.id,
    frame: note.frame.toBase64(),
    reason: "sender_not_verified",
    message: "Retries ran out after 11 attempt(s). The last: The mail provider refused the sender.",
    attempts: 11,
    firstFailureAt: at,
    lastFailureAt: at,
    possiblySent: false,
    acceptedAt: 1_790_000_000_000,
    ...overrides,
  };
  await putDeadLetter(env.STATUS, letter);
  if (record !== null) {
    await putRecord(env.STATUS, {
      id: note.id,
      state: "dead",
      attempts: letter.attempts,
      updatedAt: at,
      error: letter.message,
      errorCode: letter.reason,
      firstFailureAt: letter.firstFailureAt,
      ...record,
    });
  }
  return letter;
}

export interface SentBatch {
  messages: MessageSendRequest<NoteMessage>[];
  options: QueueSendBatchOptions | undefined;
}

/** A `NOTES_QUEUE` that records each sendBatch, or refuses every one (`fail`). */
export function recordingQueue(options: { fail?: boolean } = {}): { queue: Queue<NoteMessage>; batches: SentBatch[] } {
  const batches: SentBatch[] = [];
  const queue = {
    async send() {
      throw new Error("a replay sends with sendBatch");
    },
    async sendBatch(messages: Iterable<MessageSendRequest<NoteMessage>>, sendOptions?: QueueSendBatchOptions) {
      if (options.fail) throw new Error("Queue sendBatch failed: 503 Service Unavailable");
      batches.push({ messages: [...messages], options: sendOptions });
      return { metadata: { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date() } } };
    },
  };
  return { queue: queue as unknown as Queue<NoteMessage>, batches };
}

/** The test's bindings with another NOTES_QUEUE (or other overrides). */
export function envWith(overrides: Partial<Env>): Env {
  return { ...env, ...overrides } as Env;
}
