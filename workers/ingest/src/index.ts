/**
 * The ingest Worker: checks a frame and its client token, queues it, answers 202; and answers
 * status polls from KV. One file per route; errors become responses in errors.ts only.
 */

import type { NoteMessage } from "@notepipe/pipeline";
// hono/tiny (PatternRouter): six routes need no RegExpRouter, and the bundle is ~2.5 KiB gzip smaller.
import { Hono } from "hono/tiny";
import { preflight } from "./cors.ts";
import { methodNotAllowed, notFound, onError } from "./errors.ts";
import { getNoteStatus } from "./routes/get-note-status.ts";
import { isPostNote, postNote } from "./routes/post-note.ts";
import { postNotesStatus } from "./routes/post-notes-status.ts";
import { limitStatusPolls } from "./status-poll-limit.ts";

export type IngestEnv = { Bindings: Env };

const app = new Hono<IngestEnv>();

// A browser's preflight, on any /v1 path (src/cors.ts); before the 405s below, which take OPTIONS too.
app.options("/v1/*", preflight);
// Each path, then what answers any other method on it. Order matters: Hono runs the first match.
app.post("/v1/notes", (c) => postNote(c.req.raw, c.env)); // the hot path; see fetch below
app.all("/v1/notes", methodNotAllowed("POST"));
// Status polls need no token and cost KV reads: each counts against its client first.
app.post("/v1/notes/status", limitStatusPolls, postNotesStatus);
app.all("/v1/notes/status", methodNotAllowed("POST")); // before :id, which would take "status" for an id
app.get("/v1/notes/:id", limitStatusPolls, getNoteStatus); // Hono answers HEAD with it too
app.all("/v1/notes/:id", methodNotAllowed("GET, HEAD"));

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
} satisfies ExportedHandler<Env, NoteMessage>;
