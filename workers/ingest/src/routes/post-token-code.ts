/**
 * POST /v1/tokens/code `{"to": "<address>"}`: emails a fresh 8-character code to that address, answers
 * 202 `{"status": "sent"}`. The same answer for every address that passes the checks, enrolled
 * before or not: nothing here tells who uses the service.
 *
 * Checks run cheapest first, and the email is queued only once every limit has passed:
 *   1. 415 / 413 / 400 body (src/enrollment/enroll-request.ts)   at most 1 KiB read
 *   2. 403 enrollment_closed / domain_not_allowed               the operator's vars
 *   3. 429 per client address, 10 a minute over both routes     Rate Limiting binding
 *      400 / 403 / 503 Turnstile, when TURNSTILE_SECRET_KEY is set  one siteverify subrequest
 *   4. 429 the deployment's CODE_EMAILS_PER_DAY (UTC day)       CodeEmailBudget takes one email
 *   5. 429 per address, 3 codes an hour, 10 a day              its EnrollmentGuard stores the code's MAC
 *   6. 503 queue send                                           one message on `codes`; on failure the
 *                                                               guard withdraws the code (a 2nd DO request)
 * The budget is taken before the code is stored, so that past the cap no code exists; it is given
 * back when step 5 or 6 fails, so that the day's count is of queued code emails.
 */

import type { CodeMessage, CodeSent } from "@notepipe/pipeline";
import { CODE_LIFETIME_MS, enrollmentCodeMac, makeEnrollmentCode, parseEnrollSecrets } from "@notepipe/token";
import type { Context } from "hono";
import * as z from "zod/mini";
import { CORS_HEADERS } from "../cors.ts";
import { giveBackCodeEmail, takeCodeEmail } from "../enrollment/code-budget.ts";
import { limitEnrollClient, readEnrollRequest } from "../enrollment/enroll-request.ts";
import { issueCode, withdrawCode } from "../enrollment/guard.ts";
import { assertMayEnrol } from "../enrollment/policy.ts";
import { assertTurnstilePassed } from "../enrollment/turnstile.ts";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";

const CodeRequest = z.object({ to: z.string() });
const QUEUE_RETRY_AFTER_SECONDS = "10";

export async function postTokenCode(c: Context<IngestEnv>): Promise<Response> {
  const request = c.req.raw;
  const { to } = await readEnrollRequest(request, CodeRequest, '{"to": "<address>"}');
  assertMayEnrol(c.env, to);
  await limitEnrollClient(request, c.env);
  await assertTurnstilePassed(request, c.env);

  const code = makeEnrollmentCode();
  // The first kid signs; a code's kid is stored beside its MAC, so removing a kid retires its codes.
  const [kid, secret] = parseEnrollSecrets(c.env.ENROLL_SECRETS).entries().next().value as [string, string];
  const mac = await enrollmentCodeMac(secret, to, code);
  const day = await takeCodeEmail(c.env);
  try {
    await issueCode(c.env, to, kid, mac);
  } catch (error) {
    await giveBackCodeEmail(c.env, day);
    throw error;
  }

  // The guard's clock and this one may differ by the request's latency: the email promises no more.
  const message: CodeMessage = { kind: "code", to, code, expiresAt: Date.now() + CODE_LIFETIME_MS };
  try {
    await c.env.CODES_QUEUE.send(message, { contentType: "json" });
  } catch (cause) {
    await Promise.all([withdrawCode(c.env, to, mac), giveBackCodeEmail(c.env, day)]);
    // The error's name only: a message could quote the body, which holds the address and the code.
    console.error(`ingest: CODES_QUEUE.send failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("queue_unavailable", {
      message: "The code could not be queued; retry after the Retry-After seconds.",
      headers: { "retry-after": QUEUE_RETRY_AFTER_SECONDS },
      cause,
    });
  }
  return c.json({ status: "sent" } satisfies CodeSent, 202, { "cache-control": "no-store", ...CORS_HEADERS });
}
