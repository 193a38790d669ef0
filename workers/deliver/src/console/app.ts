/**
 * The ops console: HTML pages at `/ops/` for an operator in a browser, beside the ops API's JSON
 * routes and over the same ledger calls. Server-rendered with Hono's `html` templates (every value
 * escaped), no script shipped: each action is a form, POST then redirect. Sign-in trades an ops
 * token for a session cookie (session.ts); every other route is behind the session guard (guard.ts).
 * README.md, "The ops console", says what each page shows.
 */

import { methodNotAllowed } from "@notepipe/http";
import { Hono } from "hono/tiny";
import { notFound } from "../http/errors.ts";
import { onOpsError } from "../ops/app.ts";
import { discardTicked, replayStep, showDeadLetters, showReplayProgress } from "./dead-letters-page.ts";
import { type ConsoleEnv, requireSession } from "./guard.ts";
import { findNote, showNote } from "./note-page.ts";
import { showOverview } from "./overview-page.ts";
import { PATHS } from "./paths.ts";
import { showSignIn, signIn, signOut } from "./sign-in.ts";

export const opsConsole = new Hono<ConsoleEnv>();

// Before the guard: the one page open to anyone.
opsConsole.get(PATHS.signIn, showSignIn);
opsConsole.post(PATHS.signIn, signIn);
opsConsole.all(PATHS.signIn, methodNotAllowed("GET, POST"));

opsConsole.use(PATHS.overview, requireSession);
opsConsole.use("/ops/console/*", requireSession);
opsConsole.get(PATHS.overview, showOverview);
opsConsole.post(PATHS.signOut, signOut);
opsConsole.get(PATHS.deadLetters, showDeadLetters);
opsConsole.get(PATHS.replay, showReplayProgress);
opsConsole.post(PATHS.replay, replayStep);
opsConsole.post(PATHS.discard, discardTicked);
opsConsole.get(PATHS.notes, findNote);
opsConsole.get(`${PATHS.notes}/:id`, showNote);
opsConsole.all("/ops/console/*", notFound);

opsConsole.onError(onOpsError);
