/**
 * POST /v1/tokens `{"to": "<address>", "code": "123456"}`: trades a code emailed by POST
 * /v1/tokens/code for the address's client token, 200 `{"token", "to"}` with `to` lowercased. The
 * token is the one `pnpm ops token` signs for that address (packages/token), under the first kid
 * of TOKEN_SECRETS: asking twice gives the same token.
 *
 *   1. 415 / 413 / 400 body                                     at most 1 KiB read
 *   2. 400 invalid_code for a code that is not six digits        no try counted: the format is public
 *   3. 403 enrollment_closed / domain_not_allowed
 *   4. 429 per client address, over both routes                 Rate Limiting binding
 *   5. 429 per address, 5 tries in 10 minutes                   its EnrollmentGuard (1 DO request)
 *   6. 400 invalid_code: wrong, expired, or another address's   2 HMACs per current kid
 */

import type { EnrolledToken } from "@notepipe/pipeline";
import {
  CODE_PATTERN,
  checkEnrollmentCode,
  parseEnrollSecrets,
  parseTokenSecrets,
  signClientToken,
} from "@notepipe/token";
import type { Context } from "hono";
import * as z from "zod/mini";
import { CORS_HEADERS } from "../cors.ts";
import { limitEnrollClient, readEnrollRequest } from "../enrollment/enroll-request.ts";
import { countCodeTry } from "../enrollment/guard.ts";
import { assertMayEnrol } from "../enrollment/policy.ts";
import { ApiError } from "../errors.ts";
import type { IngestEnv } from "../index.ts";

const TokenRequest = z.object({ to: z.string(), code: z.string() });

export async function postToken(c: Context<IngestEnv>): Promise<Response> {
  const request = c.req.raw;
  const { to, code } = await readEnrollRequest(request, TokenRequest, '{"to": "<address>", "code": "<6 digits>"}');
  if (!CODE_PATTERN.test(code)) throw new ApiError("invalid_code", { message: "A code is six digits." });
  assertMayEnrol(c.env, to);
  await limitEnrollClient(request, c.env);
  await countCodeTry(c.env, to);

  if (!(await checkEnrollmentCode(parseEnrollSecrets(c.env.ENROLL_SECRETS), to, code))) {
    throw new ApiError("invalid_code");
  }
  const secrets = parseTokenSecrets(c.env.TOKEN_SECRETS);
  const kid = secrets.keys().next().value as string;
  const token = await signClientToken(secrets, kid, to);
  return c.json({ token, to } satisfies EnrolledToken, 200, { "cache-control": "no-store", ...CORS_HEADERS });
}
