/**
 * POST /v1/tokens `{"to": "<address>", "code": "7KQ2-M9XD"}`: trades a code emailed by POST
 * /v1/tokens/code for the address's client token, 200 `{"token", "to"}` with `to` lowercased. The
 * token is the one `pnpm ops token` signs for that address (packages/token), under the first kid
 * of TOKEN_SECRETS, issued now: a revoke of the address refuses it, and an earlier token stays
 * valid beside it.
 *
 *   1. 415 / 413 / 400 body                                     at most 1 KiB read
 *   2. 400 invalid_code for what cannot be a code               no miss counted: the form is public
 *   3. 403 enrollment_closed / domain_not_allowed
 *   4. 429 per client address, over both routes                 Rate Limiting binding
 *   5. 400 invalid_code: wrong, used, expired, or another       1 HMAC per current kid, then its
 *      address's; a miss against each of the address's codes   EnrollmentGuard (1 DO request)
 */

import type { EnrolledToken } from "@notepipe/pipeline";
import {
  enrollmentCodeMac,
  parseEnrollSecrets,
  parseTokenSecrets,
  readEnrollmentCode,
  signClientToken,
} from "@notepipe/token";
import type { Context } from "hono";
import * as z from "zod/mini";
import { CORS_HEADERS } from "../cors.ts";
import { limitEnrollClient, readEnrollRequest } from "../enrollment/enroll-request.ts";
import { redeemCode } from "../enrollment/guard.ts";
import { assertMayEnrol } from "../enrollment/policy.ts";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";

const TokenRequest = z.object({ to: z.string(), code: z.string() });

export async function postToken(c: Context<IngestEnv>): Promise<Response> {
  const request = c.req.raw;
  const { to, code: typed } = await readEnrollRequest(request, TokenRequest, '{"to": "<address>", "code": "<code>"}');
  const code = readEnrollmentCode(typed);
  if (code === undefined) {
    throw new ApiError("invalid_code", { message: "A code is the 8 letters and digits the email gave." });
  }
  assertMayEnrol(c.env, to);
  await limitEnrollClient(request, c.env);

  const macs = new Map<string, Uint8Array>();
  for (const [kid, secret] of parseEnrollSecrets(c.env.ENROLL_SECRETS)) {
    macs.set(kid, await enrollmentCodeMac(secret, to, code));
  }
  if (!(await redeemCode(c.env, to, macs))) throw new ApiError("invalid_code");
  const secrets = parseTokenSecrets(c.env.TOKEN_SECRETS);
  const kid = secrets.keys().next().value as string;
  const token = await signClientToken(secrets, kid, to);
  return c.json({ token, to } satisfies EnrolledToken, 200, { "cache-control": "no-store", ...CORS_HEADERS });
}
