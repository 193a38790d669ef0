/**
 * The status routes' rate limit, counted in what a poll costs: one KV read per distinct id (a
 * 100-id POST reads 100 keys, a GET one), so a poll of n ids spends n of its client's allowance.
 * One `limit({ key, delta: n })` per limiter per poll: the binding adds `delta` to the key's count
 * and lets the call through while the count is below the limit, even when `delta` takes it past
 * (RateLimitOptions in worker-configuration.d.ts, the runtime's own types;
 * https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/). So a poll costs two
 * calls whatever its size (one call per id would cost a 100-id poll 231 ms of CPU under the local
 * workerd, docs/BENCHMARKS.md), and a window counts at most limit − 1 + 100 ids (MAX_STATUS_IDS):
 * wrangler.ingest.toml sets each limit with those 99 ids of slack in mind.
 *
 * Every poll spends, in this order:
 * 1. its address's ceiling (STATUS_ADDRESS_LIMITER), whatever the poll carries: `CF-Connecting-IP`,
 *    an IPv6 one by its /64 (the rest is a host's own interface id, RFC 4291 §2.5.4, so stepping
 *    through it makes no new client). Counted first because it needs no HMAC.
 * 2. its client's allowance (STATUS_LIMITER): its client token when the poll carries one that
 *    verifies (`Authorization: Bearer <token>` and `Notepipe-To: <the token's address>`, one HMAC),
 *    so that phones behind one carrier NAT address each keep their own; else its address's.
 *    A token that does not verify buys nothing: the poll counts as one without a token.
 *
 * The limits and how they follow from the Free plan's 100,000 KV reads a day are in
 * wrangler.ingest.toml and workers/ingest/README.md. Requests from 127.0.0.1 count like any
 * other: a local stack gets its higher limits from its own copy of the configuration
 * (packages/local-stack). Workers Rate Limiting counts per Cloudflare location, and loosely: it
 * bounds a client's rate; it cannot cap what many addresses together spend.
 */

import { bearerToken } from "@notepipe/http";
import { TOKEN_ADDRESS_HEADER } from "@notepipe/pipeline";
import { parseTokenSecrets, verifyClientToken } from "@notepipe/token";
import type { Context } from "hono";
import { expandIPv6 } from "hono/utils/ipaddr";
import { ApiError } from "./errors.ts";
import type { IngestEnv } from "./index.ts";

/** The `period` of both status limiters in wrangler.ingest.toml: a full window always suffices. */
const RETRY_AFTER_SECONDS = "60";

/**
 * Spends `ids` of the poll's allowances (the distinct ids whose records it will read); throws 429
 * `rate_limited` with `Retry-After` once either is used up (a poll asked while some is left goes
 * through and spends all its ids), 503 `rate_limiter_unavailable` if a limiter cannot be asked
 * (closed, as on POST /v1/notes: an unlimited client is what the limit exists to prevent). Call it
 * after the request is read and before KV is.
 *
 * @example
 * await limitStatusPoll(c, new Set(ids).size);
 */
export async function limitStatusPoll(c: Context<IngestEnv>, ids: number): Promise<void> {
  const address = c.req.header("cf-connecting-ip");
  // No address only outside Cloudflare's network (a test calling the Worker); such callers share one.
  const addressKey = `address:${address === undefined ? "unknown" : clientAddress(address)}`;
  await spend(c.env.STATUS_ADDRESS_LIMITER, "STATUS_ADDRESS_LIMITER", addressKey, ids);
  const token = await verifiedToken(c);
  await spend(c.env.STATUS_LIMITER, "STATUS_LIMITER", token === undefined ? addressKey : `token:${token}`, ids);
}

/** The address a client is counted by: an IPv4 address as it is, an IPv6 one by its first 64 bits. */
export function clientAddress(address: string): string {
  // An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is one IPv4 client, not the ::/64 block.
  if (!address.includes(":") || address.includes(".")) return address;
  return expandIPv6(address.toLowerCase()).slice(0, "xxxx:xxxx:xxxx:xxxx".length);
}

/** The request's client token if it verifies for the address `Notepipe-To` names. */
async function verifiedToken(c: Context<IngestEnv>): Promise<string | undefined> {
  const token = bearerToken(c.req.header("authorization"));
  const to = c.req.header(TOKEN_ADDRESS_HEADER);
  if (token === undefined || to === undefined) return undefined;
  const verdict = await verifyClientToken(token, to.toLowerCase(), parseTokenSecrets(c.env.TOKEN_SECRETS));
  return verdict.ok ? token : undefined;
}

async function spend(limiter: RateLimit, name: string, key: string, ids: number): Promise<void> {
  let outcome: RateLimitOutcome;
  try {
    outcome = await limiter.limit({ key, delta: ids });
  } catch (cause) {
    // The error's name only: its message could quote the key, which may be the client's token.
    console.error(`ingest: ${name}.limit failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", { headers: { "retry-after": "10" }, cause });
  }
  if (!outcome.success) {
    throw new ApiError("rate_limited", {
      message: "Too many status polls from this client; retry after the Retry-After seconds.",
      headers: { "retry-after": RETRY_AFTER_SECONDS },
    });
  }
}
