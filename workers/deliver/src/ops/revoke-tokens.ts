/**
 * POST /ops/tokens/revoke `{"to": "<address>"}`: refuses every client token of that address issued
 * until now. It sets the address's not-before in the STATUS namespace (@notepipe/pipeline's
 * token-revocation.ts: the key, the value, the delay); ingest refuses an older token within
 * REVOCATION_DELAY_SECONDS, and a token enrolled afterwards sends. Revoking again moves the time on.
 * The address is checked by the frame's recipient rule: no other address has tokens.
 */

import { isValidRecipient } from "@notepipe/frame";
import {
  notBeforeAt,
  notBeforeKey,
  REVOCATION_DELAY_SECONDS,
  type RevokeTokensRequest,
  type TokensRevoked,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import * as z from "zod/mini";
import { readJson } from "../http/body.ts";
import { HttpError, NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";

/** An address is at most 254 characters; 1 KiB leaves room for whitespace and escapes. */
const MAX_BODY_BYTES = 1024;

const revokeBody = z.strictObject({ to: z.string() }) satisfies z.ZodMiniType<RevokeTokensRequest>;

export async function revokeTokens(c: Context<OpsEnv>): Promise<Response> {
  const { to } = await readJson(c, revokeBody, MAX_BODY_BYTES);
  if (!isValidRecipient(to)) {
    throw new HttpError("bad_request", { message: "`to` is not an address notepipe sends to, so it has no tokens." });
  }
  const address = to.toLowerCase();
  const notBefore = notBeforeAt(Date.now());
  try {
    // No expiry: a token has none unless ingest's TOKEN_MAX_AGE_DAYS is set (token-revocation.ts).
    await c.env.STATUS.put(await notBeforeKey(address), String(notBefore));
  } catch (cause) {
    console.error(
      `deliver (ops): STATUS.put (not-before) failed: ${cause instanceof Error ? cause.name : typeof cause}`,
    );
    throw new HttpError("retry_later", {
      message: "KV did not take the revoke; nothing changed. Retry in a few seconds.",
      headers: { "retry-after": "5" },
      cause,
    });
  }
  const answer: TokensRevoked = {
    to: address,
    notBefore: new Date(notBefore * 1000).toISOString(),
    appliesWithinSeconds: REVOCATION_DELAY_SECONDS,
  };
  return c.json(answer, 200, NO_STORE);
}
