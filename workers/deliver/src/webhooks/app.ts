/**
 * The provider webhooks, mounted under /webhooks: each provider authenticates its own way (Svix
 * signature, basic auth), and every event goes through apply-event.ts, which keeps the KV rules.
 */

import { methodNotAllowed } from "@notepipe/http";
import { Hono } from "hono/tiny";
import { notFound, onError } from "../http/errors.ts";
import { postmarkWebhook } from "./postmark.ts";
import { resendWebhook } from "./resend.ts";

export type WebhooksEnv = { Bindings: Env };

export const webhooks = new Hono<WebhooksEnv>().basePath("/webhooks");

webhooks.post("/resend", resendWebhook);
webhooks.all("/resend", methodNotAllowed("POST"));
webhooks.post("/postmark", postmarkWebhook);
webhooks.all("/postmark", methodNotAllowed("POST"));

// Used when a test calls this sub-app directly; mounted, the Worker's own handlers answer.
webhooks.notFound(notFound);
webhooks.onError(onError);
