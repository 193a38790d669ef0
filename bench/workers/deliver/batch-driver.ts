/**
 * Drives a queue consumer in the same workerd, without Miniflare's queue broker: `POST /run` with a
 * frame as the body builds `invocations` batches of `count` messages, each message a copy of the
 * frame under a fresh note id, shaped as Queues delivers them (id, timestamp, attempts, a v8 body
 * `{frame, acceptedAt}`), and hands each batch to the consumer through the service binding's
 * `queue()` (compatibility flag `service_binding_extra_handlers`), one after the other. It answers
 * how the consumer settled the messages. Any other path is passed on to the consumer's `fetch`.
 *
 * The bench sends one request per run, so neither the broker nor Node↔workerd traffic is counted
 * per invocation; the driver's own work is, and the ack-only consumer pays the same. To keep that
 * floor low and steady, the `count` copies are made once per run and take new note ids before each
 * invocation: the runtime serialises a batch as it hands it over, and the next invocation starts
 * only once the consumer is done with it, so no invocation sees another's ids. (A copy per message
 * and invocation would be 6.5 MB of garbage per invocation at 100 × 64 KB, in the floor.)
 */

import { NOTE_ID_BYTES } from "@notepipe/frame";
import type { NoteMessage } from "@notepipe/pipeline";

/**
 * A service binding's `queue()`, which the runtime types of deliver's compatibility date leave out
 * (it is behind `service_binding_extra_handlers`); shapes as in @cloudflare/workers-types/experimental.
 */
interface QueueMessageToSend<Body> {
  id: string;
  timestamp: Date;
  attempts: number;
  body: Body;
}
interface QueueInvocationResult {
  outcome: string;
  ackAll: boolean;
  retryBatch: { retry: boolean; delaySeconds?: number };
  explicitAcks: string[];
  retryMessages: { msgId: string; delaySeconds?: number }[];
}
interface DriverEnv {
  CONSUMER: Fetcher & {
    queue(queueName: string, messages: QueueMessageToSend<unknown>[]): Promise<QueueInvocationResult>;
  };
}

export interface DriverAnswer {
  invocations: number;
  messages: number;
  acked: number;
  retried: number;
  /** The first invocation whose outcome was not "ok", or whose messages were not all settled. */
  problem?: string;
}

const NOTE_ID_START = 4;

/** A batch of `frames`, each under a fresh note id (written into it) and a fresh message id. */
function batchOf(frames: readonly Uint8Array[]): QueueMessageToSend<NoteMessage>[] {
  const acceptedAt = Date.now();
  return frames.map((frame) => {
    crypto.getRandomValues(frame.subarray(NOTE_ID_START, NOTE_ID_START + NOTE_ID_BYTES));
    return {
      id: crypto.randomUUID().replaceAll("-", ""),
      timestamp: new Date(acceptedAt),
      attempts: 1,
      body: { frame, acceptedAt },
    };
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/run") return env.CONSUMER.fetch(request);
    const count = Number(url.searchParams.get("count"));
    const queue = url.searchParams.get("queue") ?? "notes";
    const invocations = Number(url.searchParams.get("invocations"));
    const frame = new Uint8Array(await request.arrayBuffer());
    const frames = Array.from({ length: count }, () => frame.slice());
    const answer: DriverAnswer = { invocations, messages: 0, acked: 0, retried: 0 };
    for (let i = 0; i < invocations; i++) {
      const messages = batchOf(frames);
      const result = await env.CONSUMER.queue(queue, messages);
      const acked = result.ackAll ? messages.length : new Set(result.explicitAcks).size;
      const retried = result.retryBatch.retry ? messages.length : result.retryMessages.length;
      answer.messages += messages.length;
      answer.acked += acked;
      answer.retried += retried;
      if (answer.problem === undefined && (result.outcome !== "ok" || acked + retried !== messages.length)) {
        answer.problem = `invocation ${i + 1}: outcome ${result.outcome}, ${acked} acked and ${retried} retried of ${messages.length}`;
      }
    }
    return Response.json(answer);
  },
} satisfies ExportedHandler<DriverEnv>;
