/**
 * The status routes' rate limit. They need no token, and each answer costs KV reads (one per id,
 * 100 at most per POST; the Free plan has 100,000 a day), so without a limit anyone could spend
 * them. Every poll counts once, a 100-id POST as one GET, against its client:
 *
 * - the client token, when the request carries `Authorization: Bearer <token>` in a well-formed
 *   shape with a current kid: phones behind one carrier NAT address each keep their own allowance;
 * - else its address (`CF-Connecting-IP`), an IPv6 one by its /64: the rest is a host's own
 *   interface id (RFC 4291 §2.5.4), so stepping through it makes no new client (a subscriber's
 *   whole /56 still makes 256).
 *
 * A token cannot be verified here (its MAC is over the recipient, which a poll does not carry), so
 * anyone can make one up; each token's polls therefore also count against its address, at
 * STATUS_ADDRESS_LIMITER's tenfold limit: room for a carrier NAT address, no way around the limit.
 *
 * Limits are in wrangler.ingest.toml. Workers Rate Limiting counts per Cloudflare location, and
 * loosely: it bounds a client's rate; it cannot cap what many addresses together spend.
 */

import { bearerToken } from "@notepipe/http";
import { parseTokenSecrets, readClientToken } from "@notepipe/token";
import type { Context, Next } from "hono";
import { expandIPv6 } from "hono/utils/ipaddr";
import { ApiError } from "./errors.ts";
import type { IngestEnv } from "./index.ts";

/** The `period` of both status limiters in wrangler.ingest.toml: a full window always suffices. */
const RETRY_AFTER_SECONDS = "10";

/**
 * Only the local stack's own machine: on Cloudflare, `CF-Connecting-IP` is the client's public
 * address. The e2e runs and the pipeline bench poll thousands of notes from 127.0.0.1 (tens of polls
 * a second), which no limit for phones would let through; the browser tests enrol a dozen
 * addresses a minute from it (src/enrollment/enroll-request.ts).
 */
export const LOOPBACK: ReadonlySet<string> = new Set(["127.0.0.1", "::1"]);

/**
 * Hono middleware for the status routes: 429 `rate_limited` with `Retry-After` once the client has
 * used its allowance; 503 `rate_limiter_unavailable` if a limiter cannot be asked (closed, as on
 * POST /v1/notes: an unlimited client is what the limit exists to prevent).
 *
 * @example
 * app.get("/v1/notes/:id", limitStatusPolls, getNoteStatus);
 */
export async function limitStatusPolls(c: Context<IngestEnv>, next: Next): Promise<void> {
  const address = c.req.header("cf-connecting-ip");
  if (address !== undefined && LOOPBACK.has(address)) return next();
  // No address only outside Cloudflare's network (a test calling the Worker); such callers share one.
  const addressKey = `address:${address === undefined ? "unknown" : clientAddress(address)}`;
  const token = currentToken(c);

  const allowed = await Promise.all(
    token === undefined
      ? [ask(c.env.STATUS_LIMITER, "STATUS_LIMITER", addressKey)]
      : [
          ask(c.env.STATUS_LIMITER, "STATUS_LIMITER", `token:${token}`),
          ask(c.env.STATUS_ADDRESS_LIMITER, "STATUS_ADDRESS_LIMITER", addressKey),
        ],
  );
  if (!allowed.every(Boolean)) {
    throw new ApiError("rate_limited", {
      message: "Too many status polls from this client; retry after the Retry-After seconds.",
      headers: { "retry-after": RETRY_AFTER_SECONDS },
    });
  }
  return next();
}

/** The address a client is counted by: an IPv4 address as it is, an IPv6 one by its first 64 bits. */
export function clientAddress(address: string): string {
  // An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is one IPv4 client, not the ::/64 block.
  if (!address.includes(":") || address.includes(".")) return address;
  return expandIPv6(address.toLowerCase()).slice(0, "xxxx:xxxx:xxxx:xxxx".length);
}

/** The request's client token if it has the shape of one with a current kid; its MAC is not checked. */
function currentToken(c: Context<IngestEnv>): string | undefined {
  const token = bearerToken(c.req.header("authorization"));
  return token !== undefined && readClientToken(token, parseTokenSecrets(c.env.TOKEN_SECRETS)).ok ? token : undefined;
}

async function ask(limiter: RateLimit, name: string, key: string): Promise<boolean> {
  try {
    return (await limiter.limit({ key })).success;
  } catch (cause) {
    // The error's name only: its message could quote the key, which may be the client's token.
    console.error(`ingest: ${name}.limit failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", { headers: { "retry-after": RETRY_AFTER_SECONDS }, cause });
  }
}
