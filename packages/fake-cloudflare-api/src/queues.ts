/**
 * Queues and their Worker consumers.
 */

import { Hono } from "hono";
import { ERRORS, ok, paged, readJson } from "./envelope.ts";
import { type AccountState, findQueueByName, newId, type Queue, type QueueConsumer } from "./state.ts";

/** https://developers.cloudflare.com/queues/platform/limits/: "Queue name length: 63 characters", lowercase letters, digits and dashes. */
const QUEUE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function queueRoutes(state: AccountState): Hono {
  const routes = new Hono();

  // https://developers.cloudflare.com/api/resources/queues/methods/list/ (wrangler filters with
  // repeated `name` parameters).
  routes.get("/queues", (c) => {
    const names = c.req.queries("name") ?? [];
    const queues = [...state.queues.values()].filter((queue) => names.length === 0 || names.includes(queue.queue_name));
    return paged(
      c,
      queues.map((queue) => queueView(state, queue)),
      { defaultPerPage: 100, maxPerPage: 1000 },
    );
  });

  // https://developers.cloudflare.com/api/resources/queues/methods/create/
  routes.post("/queues", async (c) => {
    const body = await readJson(c.req.raw);
    const name = body.queue_name;
    if (typeof name !== "string" || !QUEUE_NAME.test(name))
      throw ERRORS.badRequest("queue_name is not a valid queue name.");
    if (findQueueByName(state, name) !== undefined) throw ERRORS.queueNameTaken();
    const now = new Date().toISOString();
    const queue = { queue_id: newId(), queue_name: name, created_on: now, modified_on: now, consumers: [] };
    state.queues.set(queue.queue_id, queue);
    return ok(c, queueView(state, queue));
  });

  // https://developers.cloudflare.com/api/resources/queues/methods/delete/
  routes.delete("/queues/:queueId", (c) => {
    if (!state.queues.delete(c.req.param("queueId"))) throw ERRORS.queueNotFound();
    return ok(c, null);
  });

  // https://developers.cloudflare.com/api/resources/queues/subresources/consumers/methods/create/
  routes.post("/queues/:queueId/consumers", async (c) => {
    const queue = state.queues.get(c.req.param("queueId"));
    if (queue === undefined) throw ERRORS.queueNotFound();
    const consumer = workerConsumer(state, await readJson(c.req.raw), newId());
    if (queue.consumers.length > 0) throw ERRORS.consumerExists();
    queue.consumers.push(consumer);
    return ok(c, consumer);
  });

  // https://developers.cloudflare.com/api/resources/queues/subresources/consumers/methods/update/
  routes.put("/queues/:queueId/consumers/:consumerId", async (c) => {
    const queue = state.queues.get(c.req.param("queueId"));
    if (queue === undefined) throw ERRORS.queueNotFound();
    const index = queue.consumers.findIndex((consumer) => consumer.consumer_id === c.req.param("consumerId"));
    if (index === -1) throw ERRORS.consumerNotFound();
    const consumer = workerConsumer(state, await readJson(c.req.raw), c.req.param("consumerId"));
    queue.consumers[index] = consumer;
    return ok(c, consumer);
  });

  return routes;
}

/**
 * A queue as the API answers it (https://developers.cloudflare.com/api/resources/queues/methods/get/):
 * its producers are the Workers whose deployed version binds it.
 */
function queueView(state: AccountState, queue: Queue) {
  const producers = [...state.scripts.values()]
    .filter((script) =>
      script.bindings.some((binding) => binding.type === "queue" && binding.queue_name === queue.queue_name),
    )
    .map((script) => ({ type: "worker", script: script.name }));
  return {
    ...queue,
    producers,
    producers_total_count: producers.length,
    consumers_total_count: queue.consumers.length,
  };
}

/** A consumer body: its Worker must exist, and so must its dead-letter queue. */
function workerConsumer(state: AccountState, body: Record<string, unknown>, consumerId: string): QueueConsumer {
  if (body.type !== "worker") throw ERRORS.badRequest("Only Worker consumers are modelled.");
  const script = body.script_name;
  if (typeof script !== "string" || !state.scripts.has(script)) throw ERRORS.workerNotFound();
  const deadLetterQueue = body.dead_letter_queue;
  if (deadLetterQueue !== undefined) {
    if (typeof deadLetterQueue !== "string" || findQueueByName(state, deadLetterQueue) === undefined) {
      throw ERRORS.queueNotFound();
    }
  }
  return {
    consumer_id: consumerId,
    type: "worker",
    script,
    ...(typeof deadLetterQueue === "string" ? { dead_letter_queue: deadLetterQueue } : {}),
    settings:
      typeof body.settings === "object" && body.settings !== null ? (body.settings as Record<string, unknown>) : {},
    created_on: new Date().toISOString(),
  };
}
