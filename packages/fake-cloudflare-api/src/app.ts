/**
 * The fake's HTTP side: the auth and account checks every route shares, the request log, and the
 * routes of each resource (workers.ts, queues.ts, kv.ts). Anything else is Cloudflare's
 * "No route for that URI", so a call wrangler makes that nobody modelled fails loudly.
 */

import { Hono } from "hono";
import { CloudflareApiError, ERRORS, failure } from "./envelope.ts";
import { kvRoutes } from "./kv.ts";
import { queueRoutes } from "./queues.ts";
import { type AccountState, createAccountState } from "./state.ts";
import { workerRoutes } from "./workers.ts";

/** Where wrangler sends its requests: `CLOUDFLARE_API_BASE_URL` is the server's URL plus this. */
export const API_PATH = "/client/v4";

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  contentType: string | null;
  /** The body as text (a multipart upload included): what a test searches for leaked secrets. */
  body: string;
  status: number;
}

export interface FakeCloudflareApiOptions {
  /** The API token the account accepts (`Authorization: Bearer <token>`). */
  apiToken: string;
  /** 32 hex digits, as Cloudflare's account ids are. */
  accountId: string;
  /** The account's workers.dev subdomain; null for an account that has not registered one. Default "notepipe-test". */
  subdomain?: string | null;
}

export interface FakeCloudflareApi {
  app: Hono;
  state: AccountState;
  /** Every request, in the order they arrived. */
  requests: RecordedRequest[];
}

/**
 * @example
 * const api = createFakeCloudflareApi({ apiToken: "t", accountId: "0123456789abcdef0123456789abcdef" });
 * await api.app.request("/client/v4/accounts/0123456789abcdef0123456789abcdef/queues", {
 *   headers: { Authorization: "Bearer t" },
 * });
 */
export function createFakeCloudflareApi(options: FakeCloudflareApiOptions): FakeCloudflareApi {
  const state = createAccountState(
    options.accountId,
    options.subdomain === undefined ? "notepipe-test" : options.subdomain,
  );
  const requests: RecordedRequest[] = [];
  const app = new Hono();

  app.onError((error, c) => {
    if (error instanceof CloudflareApiError) return failure(c, error);
    throw error;
  });

  app.use("*", async (c, next) => {
    const url = new URL(c.req.url);
    const body = await c.req.raw.clone().text();
    await next();
    requests.push({
      method: c.req.method,
      url: url.pathname + url.search,
      contentType: c.req.header("content-type") ?? null,
      body,
      status: c.res.status,
    });
  });

  // https://developers.cloudflare.com/fundamentals/api/how-to/make-api-calls/: an API token goes in
  // `Authorization: Bearer`; the gateway checks it and the account id in the path before any route.
  app.use(`${API_PATH}/accounts/:accountId/*`, async (c, next) => {
    const authorization = c.req.header("authorization");
    if (authorization === undefined) throw ERRORS.missingAuth();
    if (authorization !== `Bearer ${options.apiToken}`) throw ERRORS.authentication();
    if (c.req.param("accountId") !== options.accountId) throw ERRORS.authentication();
    await next();
  });

  const account = `${API_PATH}/accounts/:accountId`;
  app.route(account, workerRoutes(state));
  app.route(account, queueRoutes(state));
  app.route(account, kvRoutes(state));

  app.notFound((c) => failure(c, ERRORS.noRoute()));
  return { app, state, requests };
}
