/**
 * POST /v1/tokens/code `{"to": "<address>"}`: emails a six-digit code to that address, answers
 * 202 `{"status": "sent"}`. The same answer for every address that passes the checks, enrolled
 * before or not: nothing here tells who uses the service.
 *
 * Checks run cheapest first, and the email is queued only once every limit has passed:
 *   1. 415 / 413 / 400 body (src/enrollment/enroll-request.ts)   at most 1 KiB read
 *   2. 403 enrollment_closed / domain_not_allowed               the operator's vars
 *   3. 429 per client address, 10 a minute over both routes     Rate Limiting binding
 *   4. 429 per address, 3 codes an hour                         its EnrollmentGuard (1 DO request)
 *   5. 503 queue send                                           one message on `notes`
 */

import type { CodeMessage, CodeSent } from "@notepipe/pipeline";
import { enrollmentCodeExpiry, makeEnrollmentCode, parseEnrollSecrets } from "@notepipe/token";
import type { Context } from "hono";
import * as z from "zod/mini";
import { CORS_HEADERS } from "../cors.ts";
import { limitEnrollClient, readEnrollRequest } from "../enrollment/enroll-request.ts";
import { countCodeRequest } from "../enrollment/guard.ts";
import { assertMayEnrol } from "../enrollment/policy.ts";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";

const CodeRequest = z.object({ to: z.string() });
const QUEUE_RETRY_AFTER_SECONDS = "10";

export async function postTokenCode(c: Context<IngestEnv>): Promise<Response> {
  const request = c.req.raw;
  const { to } = await readEnrollRequest(request, CodeRequest, '{"to": "<address>"}');
  assertMayEnrol(c.env, to);
  await limitEnrollClient(request, c.env);
  await countCodeRequest(c.env, to);

  const now = Date.now();
  const message: CodeMessage = {
    kind: "code",
    to,
    code: await makeEnrollmentCode(parseEnrollSecrets(c.env.ENROLL_SECRETS), to, now),
    expiresAt: enrollmentCodeExpiry(now),
  };
  try {
    await c.env.NOTES_QUEUE.send(message, { contentType: "json" });
  } catch (cause) {
    // The error's name only: a message could quote the body, which holds the address and the code.
    console.error(`ingest: NOTES_QUEUE.send (code) failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("queue_unavailable", {
      message: "The code could not be queued; retry after the Retry-After seconds.",
      headers: { "retry-after": QUEUE_RETRY_AFTER_SECONDS },
      cause,
    });
  }
  return c.json({ status: "sent" } satisfies CodeSent, 202, { "cache-control": "no-store", ...CORS_HEADERS });
}
