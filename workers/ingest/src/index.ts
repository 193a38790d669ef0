/**
 * The ingest Worker: checks a frame and its client token, queues it, answers 202; answers status
 * polls from KV; and enrols an address (an emailed code traded for its client token). One file per
 * route; errors become responses in errors.ts only.
 */

import { methodNotAllowed } from "@notepipe/http";
import type { NotesQueueMessage } from "@notepipe/pipeline";
// hono/tiny (PatternRouter): six routes need no RegExpRouter, and the bundle is ~2.5 KiB gzip smaller.
import { Hono } from "hono/tiny";
import { preflight } from "./cors.ts";
import { notFound, onError } from "./errors.ts";
import { getNoteStatus } from "./routes/get-note-status.ts";
import { isPostNote, postNote } from "./routes/post-note.ts";
import { postNotesStatus } from "./routes/post-notes-status.ts";
import { postToken } from "./routes/post-token.ts";
import { postTokenCode } from "./routes/post-token-code.ts";

/** The class behind `CODE_EMAIL_BUDGET`: the deployment's code emails of the day, in one object. */
export { CodeEmailBudget } from "./enrollment/code-budget.ts";
/** The Durable Object class behind `ENROLLMENT_GUARD`: workerd finds it among the main module's exports. */
export { EnrollmentGuard } from "./enrollment/guard.ts";

export type IngestEnv = { Bindings: Env };

const app = new Hono<IngestEnv>();

// A browser's preflight, on any /v1 path (src/cors.ts); before the 405s below, which take OPTIONS too.
app.options("/v1/*", preflight);
// Each path, then what answers any other method on it. Order matters: Hono runs the first match.
app.post("/v1/notes", (c) => postNote(c.req.raw, c.env)); // the hot path; see fetch below
app.all("/v1/notes", methodNotAllowed("POST"));
// Status polls need no token and cost KV reads: each route spends its client's allowance per id read.
app.post("/v1/notes/status", postNotesStatus);
app.all("/v1/notes/status", methodNotAllowed("POST")); // before :id, which would take "status" for an id
app.get("/v1/notes/:id", getNoteStatus); // Hono answers HEAD with it too
app.all("/v1/notes/:id", methodNotAllowed("GET, HEAD"));
// Enrollment: a code emailed to an address, then traded for its token.
app.post("/v1/tokens/code", postTokenCode);
app.all("/v1/tokens/code", methodNotAllowed("POST"));
app.post("/v1/tokens", postToken);
app.all("/v1/tokens", methodNotAllowed("POST"));

// /ops/* and /webhooks/* are the deliver Worker's (ops API, provider webhooks), forwarded over the
// DELIVER service binding: their code stays out of this bundle, and as a notFound fallback the
// forward costs ingest's routes nothing (hono/tiny tests every route's pattern on each request).
app.notFound((c) => (isDeliverPath(c.req.path) ? c.env.DELIVER.fetch(c.req.raw) : notFound()));
app.onError(onError);

function isDeliverPath(path: string): boolean {
  return path.startsWith("/ops/") || path.startsWith("/webhooks/");
}

export default {
  // POST /v1/notes is answered before Hono's router: its pattern matching and per-request Context
  // were 12-14 % of the hot path's JavaScript (docs/BENCHMARKS.md). Every other request, and any
  // spelling of that path isPostNote does not take, is Hono's.
  fetch(request, env, ctx) {
    return isPostNote(request) ? postNote(request, env) : app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env, NotesQueueMessage>;
