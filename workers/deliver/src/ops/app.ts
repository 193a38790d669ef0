/**
 * The ops API, mounted under /ops: list, replay and discard dead letters, count states. Every
 * route needs an ops token (auth.ts). README.md ("Operating notepipe") says how to reach it.
 */

import { Hono } from "hono/tiny";
import { methodNotAllowed, notFound, onError } from "../http/errors.ts";
import { requireOpsToken } from "./auth.ts";
import { discardDeadLetter } from "./discard-dead-letter.ts";
import { listDeadLetters } from "./list-dead-letters.ts";
import { replayDeadLetters } from "./replay-dead-letters.ts";
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

// Used when a test calls this sub-app directly; mounted, the Worker's own handlers answer.
ops.notFound(notFound);
ops.onError(onError);
