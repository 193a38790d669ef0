/**
 * What happens to every send request, Resend or Postmark, in the order the real APIs do it:
 * counting, an `outage` fault (a provider that is down answers nothing else), what stands in front of the API (Resend's Cloudflare refuses a request without a
 * User-Agent), the API key, the media types, an account-wide refusal (`reject` fault), the rate
 * limit, then the injected transient faults. The order of the key and media-type checks is not
 * documented by either provider. The route then processes the request through {@link processSend},
 * which holds the idempotency key while the injected latency or hang runs.
 */

import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorCode, ProviderError } from "./errors.ts";
import type { LostAnswer, OutageMode } from "./faults.ts";
import { fingerprintRequest, MAX_IDEMPOTENCY_KEY_CHARS } from "./idempotency.ts";
import type { ProviderEnv, ProviderState } from "./state.ts";

type SendApi = "resend" | "postmark";

/**
 * Responses that never reached their client, and why: the request hung until its client left, met
 * a provider that is down (`refused`), or was processed and its answer lost (`reset`, `hold`).
 */
type Unanswered = "hung" | "refused" | LostAnswer;
const unanswered = new WeakMap<Response, Unanswered>();

function unansweredResponse(why: Unanswered, response = new Response(null, { status: 499 })): Response {
  unanswered.set(response, why);
  return response;
}

/** The key a request carries, `undefined` if none (an empty header counts as none). */
function apiKeyOf(c: Context<ProviderEnv>, api: SendApi): string | undefined {
  const raw =
    api === "postmark"
      ? c.req.header("x-postmark-server-token")
      : c.req.header("authorization")?.replace(/^Bearer(?:\s+|$)/i, "");
  const key = raw?.trim();
  return key === "" ? undefined : key;
}

/**
 * Counts a send request by the status it was answered with. It runs before {@link sendGuard}
 * because Hono turns an error into a response at the level it was thrown from.
 */
export function countSend(state: ProviderState, api: SendApi): MiddlewareHandler<ProviderEnv> {
  return async (c, next) => {
    c.set("api", api);
    await next();
    const why = unanswered.get(c.res);
    if (why === "hung") state.stats.recordHung();
    else if (why === "refused") state.stats.recordRefused();
    else if (why !== undefined) state.stats.recordAnswerLost(why);
    else state.stats.record(c.res.status);
  };
}

/**
 * @example
 * app.post("/emails", countSend(state, "resend"), sendGuard(state, "resend"), handler);
 */
export function sendGuard(state: ProviderState, api: SendApi): MiddlewareHandler<ProviderEnv> {
  return async (c, next) => {
    // A provider that is down answers nothing, its edge included.
    const outage = state.faults.current.outage;
    if (outage === "refused") return dropConnection(c, "refused");
    if (outage !== null) throw new ProviderError(OUTAGE_ERRORS[outage]);
    // Cloudflare answers before Resend sees the request (resend-contract.ts, `user-agent`).
    if (api === "resend" && !c.req.header("user-agent")?.trim()) throw new ProviderError("browser_signature_banned");
    const key = apiKeyOf(c, api);
    if (key === undefined) throw new ProviderError("missing_api_key");
    // A local stand-in holding a dev key: a Set lookup is enough, no timing attack to defend against.
    if (!state.apiKeys.has(key)) throw new ProviderError("invalid_api_key");
    c.set("apiKey", key);
    if (!isJson(c.req.header("content-type"))) throw new ProviderError("unsupported_media_type");
    if (api === "postmark" && !acceptsJson(c.req.header("accept"))) throw new ProviderError("unsupported_media_type");

    const reject = state.faults.current.reject;
    if (reject !== null) throw new ProviderError(reject);

    const rate = state.rateLimiter.take(key);
    // Postmark documents no rate-limit headers and no Retry-After; Resend sends them always.
    if (rate !== null && api === "resend") {
      c.header("ratelimit-limit", String(rate.limit));
      c.header("ratelimit-remaining", String(rate.remaining));
      c.header("ratelimit-reset", String(rate.resetSeconds));
    }
    if (rate !== null && !rate.allowed) {
      throw new ProviderError(
        "rate_limit_exceeded",
        `Too many requests. You can only make ${rate.limit} requests per second. See the rate limit response headers.`,
        api === "resend" ? { "retry-after": String(rate.resetSeconds) } : {},
      );
    }

    const fault = state.faults.decide();
    if (fault.status === 429) {
      throw new ProviderError("rate_limit_exceeded", undefined, api === "resend" ? { "retry-after": "1" } : {});
    }
    if (fault.status === 500) throw new ProviderError("internal_server_error");
    if (fault.status === 502) throw new ProviderError("bad_gateway");
    if (fault.status === 503) throw new ProviderError("service_unavailable");
    c.set("fault", fault);
    await next();
  };
}

const OUTAGE_ERRORS = {
  "500": "internal_server_error",
  "502": "bad_gateway",
  "503": "service_unavailable",
} as const satisfies Record<Exclude<OutageMode, "refused">, ErrorCode>;

/**
 * Resets the request's TCP connection (a RST rather than a FIN: the client's fetch fails with
 * ECONNRESET, not a clean end of stream). server.ts serves the app through @hono/node-server,
 * which passes the Node request as `c.env.incoming`; `app.request` passes no env at all, hence no
 * connection to reset: there the answer is `Response.error()`, fetch's own network error.
 */
function dropConnection(c: Context<ProviderEnv>, why: "refused" | "reset"): Response {
  const connection = c.env?.incoming?.socket;
  if (connection === undefined) return unansweredResponse(why, Response.error());
  connection.resetAndDestroy();
  return unansweredResponse(why);
}

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*application\/json\s*(?:;|$)/i.test(contentType);
}

/** Whether an Accept header admits `application/json` (by name, `application/*` or `*\/*`). */
function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(",").some((range) => {
    const [type = "", ...parameters] = range.split(";").map((part) => part.trim().toLowerCase());
    const refused = parameters.some((parameter) => /^q=0(?:\.0{0,3})?$/.test(parameter));
    return !refused && (type === "application/json" || type === "application/*" || type === "*/*");
  });
}

/** A send's answer, kept as text so that an idempotent replay is byte for byte the same. */
export interface SendResult {
  status: 200;
  body: unknown;
}

function respond(c: Context<ProviderEnv>, status: number, body: string, contentType: string): Response {
  // c.body keeps the headers set so far (the rate-limit ones).
  return c.body(body, status as ContentfulStatusCode, { "content-type": contentType });
}

/**
 * Runs the injected processing time (or hang), then `process`, under the request's idempotency
 * key if it has one, then answers, unless a `loseAnswerRate` fault loses the answer. `process`
 * throws {@link ProviderError} for a request it refuses.
 *
 * @param fingerprint what makes a retry "the same request": method and path, mode, raw body.
 */
export async function processSend(
  c: Context<ProviderEnv>,
  state: ProviderState,
  idempotencyKey: string | undefined,
  fingerprint: readonly string[],
  process: () => SendResult,
): Promise<Response> {
  if (idempotencyKey === undefined) {
    if (!(await simulateProcessing(c))) return unansweredResponse("hung");
    const result = process();
    return answer(c, respond(c, result.status, JSON.stringify(result.body), "application/json"));
  }
  if (idempotencyKey.length === 0 || idempotencyKey.length > MAX_IDEMPOTENCY_KEY_CHARS) {
    throw new ProviderError("invalid_idempotency_key");
  }
  const claim = state.idempotency.claim(c.get("apiKey"), idempotencyKey, await fingerprintRequest(fingerprint));
  if (claim.kind === "different_request") throw new ProviderError("invalid_idempotent_request");
  if (claim.kind === "in_flight") throw new ProviderError("concurrent_idempotent_requests");
  if (claim.kind === "replay") {
    state.stats.replayed++;
    return respond(c, claim.response.status, claim.response.body, claim.response.contentType);
  }
  let response: Response;
  try {
    if (!(await simulateProcessing(c))) {
      claim.settle(null);
      return unansweredResponse("hung");
    }
    const result = process();
    const body = JSON.stringify(result.body);
    claim.settle({ status: result.status, body, contentType: "application/json" });
    response = respond(c, result.status, body, "application/json");
  } catch (error) {
    claim.settle(null);
    throw error;
  }
  return answer(c, response);
}

/**
 * The answer of a request that was processed, unless a `loseAnswerRate` fault keeps it from the
 * client: everything the request did stays done.
 */
async function answer(c: Context<ProviderEnv>, response: Response): Promise<Response> {
  const lost = c.get("fault").loseAnswer;
  if (lost === null) return response;
  if (lost === "hold") {
    await clientGone(c.req.raw.signal);
    return unansweredResponse("hold");
  }
  return dropConnection(c, "reset");
}

/** Settles once the client has given up: its fetch aborted or its connection closed. */
function clientGone(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * The injected latency, or a hang until the client gives up. Returns false when the request is to
 * be dropped unanswered. Latency is not cut short by a client that leaves: the provider finishes.
 */
async function simulateProcessing(c: Context<ProviderEnv>): Promise<boolean> {
  const fault = c.get("fault");
  if (fault.hang) {
    await clientGone(c.req.raw.signal);
    return false;
  }
  if (fault.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, fault.latencyMs));
  return true;
}

/** Reads and parses a JSON body, keeping the raw text for the idempotency fingerprint. */
export async function readJson(c: Context<ProviderEnv>): Promise<{ raw: string; value: unknown }> {
  const raw = await c.req.text();
  try {
    return { raw, value: JSON.parse(raw) };
  } catch {
    throw new ProviderError("invalid_json", "The request body is not valid JSON.");
  }
}
