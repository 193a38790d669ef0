/**
 * Self-service enrollment: an app proves its user reads an address and gets that address's client
 * token, with no backend of its own. `requestCode` has ingest email a code (8 characters) to the
 * address; `confirmCode` trades the code the user typed for the token `send` and the outbox need.
 */

import { isValidRecipient } from "@notepipe/frame";
import type { EnrolledToken } from "@notepipe/pipeline";
import type { IngestConnection } from "./config.ts";
import { NotepipeError } from "./errors.ts";
import { request } from "./request.ts";

function checkAddress(to: string): void {
  if (!isValidRecipient(to)) {
    throw new NotepipeError("bad_recipient", "This is not an address notepipe accepts.", {});
  }
}

/**
 * Asks ingest to email a code to `to`. Resolves once the email is queued; the answer is the same
 * whether or not the address enrolled before. Throws {@link NotepipeError}: `bad_recipient`,
 * `enrollment_closed`, `domain_not_allowed`, `rate_limited` (3 codes an hour per address,
 * 10 requests a minute per network, or the deployment's code emails for the day: then
 * `retryAfterMs` runs to UTC midnight) with `retryAfterMs`, and where the deployment asks for
 * Turnstile, `turnstile_required`, `turnstile_failed` or `turnstile_unavailable`.
 *
 * `turnstileToken` is the widget's answer (its `cf-turnstile-response`), sent as the
 * `CF-Turnstile-Response` header. Siteverify accepts a token once
 * (https://developers.cloudflare.com/turnstile/get-started/server-side-validation/), so a call
 * that carries one makes a single attempt: a retry would only be refused as a token already spent,
 * and the widget must give a new one.
 *
 * @example
 * await requestCode({ endpoint: "https://notes.example.com" }, "ada@example.com");
 * await requestCode(config, "ada@example.com", { turnstileToken: turnstile.getResponse() });
 */
export async function requestCode(
  config: IngestConnection,
  to: string,
  options: { turnstileToken?: string } = {},
): Promise<void> {
  checkAddress(to);
  const { turnstileToken } = options;
  if (turnstileToken === undefined) {
    await request(config, "/v1/tokens/code", JSON.stringify({ to }));
    return;
  }
  const once = { ...config, retry: { ...config.retry, attempts: 1 } };
  await request(once, "/v1/tokens/code", JSON.stringify({ to }), { "cf-turnstile-response": turnstileToken });
}

/**
 * Trades the code emailed to `to` for its client token (the same token every time for one
 * address). Spaces in `code` are ignored, as a user may type "7KQ2 M9XD". Throws
 * {@link NotepipeError}: `invalid_code` (wrong, expired, or another address's: request a new one),
 * `rate_limited` (10 requests a minute per network) with `retryAfterMs`, `enrollment_closed`,
 * `domain_not_allowed`, `bad_recipient`.
 *
 * @example
 * const token = await confirmCode({ endpoint: "https://notes.example.com" }, "ada@example.com", "7KQ2M9XD");
 */
export async function confirmCode(config: IngestConnection, to: string, code: string): Promise<string> {
  checkAddress(to);
  const res = await request(config, "/v1/tokens", JSON.stringify({ to, code: code.replace(/\s+/g, "") }));
  try {
    const { token } = (await res.json()) as EnrolledToken;
    if (typeof token !== "string") throw new TypeError("token is not a string");
    return token;
  } catch (cause) {
    throw new NotepipeError("unexpected_response", "The token answer is not the ingest API's.", { cause });
  }
}
