/**
 * Ops auth: `Authorization: Bearer <ops token>`, the tokens from the `OPS_TOKENS` secret. Several
 * tokens are current at once so that one can be rotated without locking anyone out. Client tokens
 * (`np1.…`) are not ops tokens and grant nothing here.
 *
 * Not Hono's `bearerAuth`: its refusals are finished responses of its own (an `HTTPException`
 * carrying one, and 400 for a malformed header), where every deliver error is a coded JSON answer
 * from one `onError`; the comparison is the one the webhooks use too (http/secret-compare.ts).
 */

import { bearerToken } from "@notepipe/http";
import type { MiddlewareHandler } from "hono";
import { HttpError } from "../http/errors.ts";
import { cachedDigests, matchesAnySecret } from "../http/secret-compare.ts";

/** A guessable token is no token: 16 characters is 96+ bits from any random generator's alphabet. */
const MIN_TOKEN_LENGTH = 16;

/**
 * Reads `OPS_TOKENS`: a JSON array of strings, or tokens separated by commas or whitespace.
 * Answers null if it holds no token or a too-short one (the route then answers 503, not 401).
 *
 * @example
 * parseOpsTokens('["ops-2026a-…", "ops-2026b-…"]'); // ["ops-2026a-…", "ops-2026b-…"]
 * parseOpsTokens("ops-2026a-…, ops-2026b-…");       // the same
 */
export function parseOpsTokens(secret: string | undefined): string[] | null {
  if (secret === undefined) return null;
  const text = secret.trim();
  let tokens: unknown;
  if (text.startsWith("[")) {
    try {
      tokens = JSON.parse(text);
    } catch {
      return null;
    }
  } else {
    tokens = text.split(/[\s,]+/).filter((token) => token !== "");
  }
  if (!Array.isArray(tokens) || tokens.length === 0) return null;
  if (!tokens.every((token) => typeof token === "string" && token.length >= MIN_TOKEN_LENGTH)) return null;
  return tokens as string[];
}

const tokenDigests = cachedDigests();

/** RFC 9110 §15.5.2: a 401 names the scheme it wants. */
function unauthorized(message: string): HttpError {
  return new HttpError("unauthorized", { message, headers: { "www-authenticate": 'Bearer realm="notepipe-ops"' } });
}

/** The ops sub-app's first middleware: nothing under /ops runs without a current ops token. */
export const requireOpsToken: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const secret = c.env.OPS_TOKENS;
  const tokens = parseOpsTokens(secret);
  if (tokens === null) {
    console.error("deliver: OPS_TOKENS is unset or invalid; every ops request is refused with 503.");
    throw new HttpError("not_configured", {
      message: `OPS_TOKENS must hold one or more tokens of at least ${MIN_TOKEN_LENGTH} characters.`,
    });
  }
  const authorization = c.req.header("authorization");
  if (authorization === undefined) throw unauthorized("Send Authorization: Bearer <ops token>.");
  const presented = bearerToken(authorization);
  if (presented === undefined) throw unauthorized("The Authorization header must be Bearer <ops token>.");
  if (!(await matchesAnySecret(presented, await tokenDigests(secret, tokens)))) {
    throw unauthorized("This ops token is not valid.");
  }
  await next();
};
