/**
 * Turnstile on `POST /v1/tokens/code`, for operators who serve a web sign-up: off until the
 * `TURNSTILE_SECRET_KEY` secret is set; then every code request carries the widget's token in the
 * `CF-Turnstile-Response` header (a header, since a token may be 2,048 characters and the body is
 * capped at 1 KiB) and ingest asks siteverify (`TURNSTILE_SITEVERIFY_URL`) before it stores a code
 * or spends the day's code emails.
 * https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
 *
 * Closed when siteverify cannot answer (timeout, 5xx, an answer that is not siteverify's, or one
 * that says our own request or secret is wrong): 503 `turnstile_unavailable` and nothing stored or
 * queued. Open would hand a bot flood the code emails exactly while the check is down, and a
 * person loses only a retry: enrollment waits for an email anyway.
 */

import * as z from "zod/mini";
import { ApiError } from "../errors.ts";

/** Where the client puts the widget's token. */
export const TURNSTILE_HEADER = "cf-turnstile-response";
/** "A Turnstile token can have up to 2048 characters" (the page above). */
const MAX_TOKEN_CHARS = 2048;
/** A siteverify answer takes well under a second; past 5 s the client is better off retrying. */
export const SITEVERIFY_TIMEOUT_MS = 5_000;
const RETRY_AFTER_SECONDS = "10";

/** The fields ingest reads of siteverify's answer; it "always contains a success property". */
const SiteverifyAnswer = z.object({ success: z.boolean(), "error-codes": z.optional(z.array(z.string())) });

/** The client's fault: the token is wrong, expired or spent. Any other code is ours or siteverify's. */
const REFUSED_TOKEN = new Set(["invalid-input-response", "timeout-or-duplicate"]);

/**
 * Throws unless Turnstile is off or siteverify accepts the request's token: 400
 * `turnstile_required` (no token, or not one), 403 `turnstile_failed`, 503 `turnstile_unavailable`.
 * One subrequest when on, none when off.
 *
 * @example
 * await assertTurnstilePassed(c.req.raw, c.env);
 */
export async function assertTurnstilePassed(request: Request, env: Env): Promise<void> {
  // A secret, so optional and absent from the generated Env until set (`wrangler secret put`).
  const secret = ((env as { TURNSTILE_SECRET_KEY?: string }).TURNSTILE_SECRET_KEY ?? "").trim();
  if (secret === "") return;
  const token = request.headers.get(TURNSTILE_HEADER);
  if (token === null || token === "") throw new ApiError("turnstile_required");
  if (token.length > MAX_TOKEN_CHARS) {
    throw new ApiError("turnstile_required", {
      message: `A Turnstile token is at most ${MAX_TOKEN_CHARS} characters; send the widget's token as it is.`,
    });
  }
  const remoteip = request.headers.get("cf-connecting-ip");
  let answer: z.output<typeof SiteverifyAnswer>;
  try {
    const response = await fetch(env.TURNSTILE_SITEVERIFY_URL, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(remoteip === null ? { secret, response: token } : { secret, response: token, remoteip }),
      signal: AbortSignal.timeout(SITEVERIFY_TIMEOUT_MS),
    });
    answer = SiteverifyAnswer.parse(await response.json());
  } catch (cause) {
    // The error's name only: a message could quote the request, which holds the secret.
    console.error(`ingest: siteverify did not answer: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw unavailable(cause);
  }
  if (answer.success) return;
  const codes = answer["error-codes"] ?? [];
  if (codes.length === 0 || codes.every((code) => REFUSED_TOKEN.has(code))) throw new ApiError("turnstile_failed");
  // missing-/invalid-input-secret, bad-request, internal-error: nothing the client can fix.
  console.error(`ingest: siteverify refused the request itself: ${codes.join(", ").slice(0, 200)}`);
  throw unavailable(undefined);
}

function unavailable(cause: unknown): ApiError {
  return new ApiError("turnstile_unavailable", { headers: { "retry-after": RETRY_AFTER_SECONDS }, cause });
}
