/**
 * The local mail provider as a Hono app: Resend's and Postmark's send endpoints, fault injection,
 * an inbox. Runs anywhere `fetch` does; server.ts puts it on a Node port.
 */

import { Hono } from "hono";
import { controlApi } from "./control.ts";
import { errorResponse, ProviderError } from "./errors.ts";
import { inboxApi } from "./inbox-api.ts";
import { postmarkApi } from "./postmark.ts";
import { resendApi } from "./resend.ts";
import { type LocalProviderOptions, type ProviderEnv, ProviderState } from "./state.ts";

export interface LocalProvider {
  app: Hono<ProviderEnv>;
  /** The live state, for a test or a script in the same process (the HTTP routes read the same). */
  state: ProviderState;
}

/**
 * @example
 * const { app } = createLocalProvider({ rateLimitPerSecond: 0 });
 * const res = await app.request("/emails", { method: "POST", headers, body });
 */
export function createLocalProvider(options: LocalProviderOptions = {}): LocalProvider {
  const state = new ProviderState(options);
  const app = new Hono<ProviderEnv>();
  app.route("/", resendApi(state));
  app.route("/", postmarkApi(state));
  app.route("/", controlApi(state));
  app.route("/", inboxApi(state));

  // An unserved path under Resend's `/emails` gets Resend's 404 (resend-contract.ts, `not-found`).
  app.notFound((c) => {
    const api = c.get("api") ?? (/^\/emails(?:\/|$)/.test(c.req.path) ? "resend" : "control");
    return errorResponse(c, api, new ProviderError("not_found"));
  });
  app.onError((error, c) => {
    const api = c.get("api") ?? "control";
    if (error instanceof ProviderError) return errorResponse(c, api, error);
    console.error("local provider: unexpected error", error);
    return errorResponse(c, api, new ProviderError("internal_server_error"));
  });
  return { app, state };
}
