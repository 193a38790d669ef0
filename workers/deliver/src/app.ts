/**
 * The deliver Worker's HTTP side: the ops API and the provider webhooks. The Worker has no route of
 * its own in the local stack; ingest forwards `/ops/*` and `/webhooks/*` here over a service
 * binding (README.md, "HTTP: the ops API and the webhooks").
 */

import { Hono } from "hono/tiny";
import { opsConsole } from "./console/app.ts";
import { notFound, onError } from "./http/errors.ts";
import { ops } from "./ops/app.ts";
import { webhooks } from "./webhooks/app.ts";

export const http = new Hono<{ Bindings: Env }>();

// Before the ops API, whose token check covers all of /ops/*: the console's pages take a session.
http.route("/", opsConsole);
http.route("/", ops);
http.route("/", webhooks);

http.notFound(notFound);
http.onError(onError);
