/**
 * The ops API, mounted under /ops: list, replay and discard dead letters, count states, revoke an
 * address's client tokens. Every route needs an ops token (auth.ts). How it is reached: README.md,
 * "HTTP: the ops API and the webhooks".
 */

import { methodNotAllowed } from "@notepipe/http";
import { Hono } from "hono/tiny";
import { HttpError, notFound, onError } from "../http/errors.ts";
import { requireOpsToken } from "./auth.ts";
import { LedgerUnavailableError } from "./dead-letters.ts";
import { discardDeadLetter } from "./discard-dead-letter.ts";
import { listDeadLetters } from "./list-dead-letters.ts";
import { getOverview } from "./overview.ts";
import { replayDeadLetters } from "./replay-dead-letters.ts";
import { revokeTokens } from "./revoke-tokens.ts";
import { getStats } from "./stats.ts";

export type OpsEnv = { Bindings: Env };

export const ops = new Hono<OpsEnv>().basePath("/ops");

// Before any route, so that an unknown path tells a caller without a token nothing.
ops.use("*", requireOpsToken);
ops.get("/dead-letters", listDeadLetters);
ops.all("/dead-letters", methodNotAllowed("GET"));
ops.post("/dead-letters/replay", replayDeadLetters);
ops.all("/dead-letters/replay", methodNotAllowed("POST")); // before :id, which would take "replay" for an id
ops.delete("/dead-letters/:id", discardDeadLetter);
ops.all("/dead-letters/:id", methodNotAllowed("DELETE"));
ops.get("/stats", getStats);
ops.all("/stats", methodNotAllowed("GET"));
ops.get("/overview", getOverview);
ops.all("/overview", methodNotAllowed("GET"));
ops.post("/tokens/revoke", revokeTokens);
ops.all("/tokens/revoke", methodNotAllowed("POST"));

// Used when a test calls this sub-app directly; mounted, the Worker's own handler answers.
ops.notFound(notFound);
// Hono keeps a sub-app's own error handler for its routes when mounted: one place for both.
ops.onError(onOpsError);

/** Every error of an ops route, the console's pages too: a ledger that did not answer is 503, not 500. */
export function onOpsError(error: Error): Response {
  return onError(error instanceof LedgerUnavailableError ? ledgerUnavailable(error) : error);
}

/** 503, not 500: a Durable Object moves or restarts now and then, and every ops request may be repeated. */
function ledgerUnavailable(error: LedgerUnavailableError): HttpError {
  const cause = error.cause instanceof Error ? error.cause.name : typeof error.cause;
  console.error(`deliver (ops): the delivery ledger did not answer (${cause}).`);
  return new HttpError("retry_later", {
    message: "The delivery ledger did not answer; retry in a few seconds.",
    headers: { "retry-after": "5" },
  });
}
