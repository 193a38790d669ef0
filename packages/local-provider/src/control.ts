/**
 * The control routes tests and the ops walk-through use to steer the provider. Not part of any
 * provider's API; errors use notepipe's `{error, message}`.
 *
 * - `GET  /_control/faults`     the faults in force.
 * - `POST /_control/faults`     replace them (an omitted fault is off), see faults.ts.
 * - `POST /_control/rate-limit` `{"requestsPerSecond": n}`, 0 turns the limit off.
 * - `POST /_control/reset`      forget everything: inbox, keys, counts, back to the initial faults.
 * - `GET  /_control/stats`      the provider's name, requests to the send endpoints by status,
 *                               hung, answers lost (by how), replayed, refused, emails, webhook
 *                               posts (delivered, retried, abandoned, pending).
 */

import { type Context, Hono } from "hono";
import { type ZodType, z } from "zod";
import { ProviderError } from "./errors.ts";
import { faultsSchema } from "./faults.ts";
import { readJson } from "./send-pipeline.ts";
import type { ProviderEnv, ProviderState } from "./state.ts";

const rateLimitSchema = z.strictObject({ requestsPerSecond: z.int().min(0).max(100_000) });

async function parseBody<T>(c: Context<ProviderEnv>, schema: ZodType<T>): Promise<T> {
  const { value } = await readJson(c);
  const result = schema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(body)"}: ${issue.message}`);
    throw new ProviderError("bad_request", `${problems.join("; ")}.`);
  }
  return result.data;
}

export function controlApi(state: ProviderState): Hono<ProviderEnv> {
  const api = new Hono<ProviderEnv>();
  api.use("/_control/*", async (c, next) => {
    c.set("api", "control");
    await next();
  });

  api.get("/_control/faults", (c) => c.json(state.faults.current));

  api.post("/_control/faults", async (c) => {
    state.faults.set(await parseBody(c, faultsSchema));
    return c.json(state.faults.current);
  });

  api.post("/_control/rate-limit", async (c) => {
    const { requestsPerSecond } = await parseBody(c, rateLimitSchema);
    state.rateLimiter.perSecond = requestsPerSecond;
    return c.json({ requestsPerSecond });
  });

  api.post("/_control/reset", (c) => {
    state.reset();
    return c.json({ reset: true });
  });

  api.get("/_control/stats", (c) =>
    c.json({
      name: state.name,
      requests: state.stats.requests,
      byStatus: state.stats.byStatus,
      hung: state.stats.hung,
      answersLost: state.stats.answersLost,
      replayed: state.stats.replayed,
      refused: state.stats.refused,
      emails: state.inbox.size,
      rateLimitPerSecond: state.rateLimiter.perSecond,
      faults: state.faults.current,
      webhooks: state.webhooks?.stats ?? null,
    }),
  );

  return api;
}
