/**
 * What both enrollment routes read before anything costs: a JSON body of at most 1 KiB whose `to`
 * passes the frame's recipient rule, and the client address the IP limit counts by.
 */

import { isValidRecipient, recipientProblem } from "@notepipe/frame";
import { hasMediaType, readBodyUpTo } from "@notepipe/http";
import type * as z from "zod/mini";
import { ApiError } from "../errors.ts";
import { clientAddress } from "../status-poll-limit.ts";

/** An address is at most 254 characters; 1 KiB leaves room for the code, whitespace and escapes. */
export const MAX_ENROLL_BODY_BYTES = 1024;
/** The `period` of ENROLL_IP_LIMITER in wrangler.ingest.toml: a full window always suffices. */
const IP_RETRY_AFTER_SECONDS = "60";

const encoder = new TextEncoder();

/**
 * The body as `schema` reads it, with `to` lowercased. Throws 415, 413, 400 `bad_request` (not
 * JSON, or not the shape `message` describes) or 400 `bad_recipient`.
 *
 * @example
 * const { to } = await readEnrollRequest(request, z.object({ to: z.string() }), '{"to": "<address>"}');
 */
export async function readEnrollRequest<T extends { to: string }>(
  request: Request,
  schema: z.ZodMiniType<T>,
  shape: string,
): Promise<T> {
  if (!hasMediaType(request.headers.get("content-type"), "application/json")) {
    throw new ApiError("unsupported_media_type", { message: "Send the body as application/json." });
  }
  const declaredLength = request.headers.get("content-length");
  if (declaredLength !== null && Number(declaredLength) > MAX_ENROLL_BODY_BYTES) throw bodyTooLarge();
  const bytes = await readBodyUpTo(request, MAX_ENROLL_BODY_BYTES);
  if (bytes === undefined) throw bodyTooLarge();
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ApiError("bad_request", { message: `The body must be JSON: ${shape}.` });
  }
  const read = schema.safeParse(body);
  if (!read.success) throw new ApiError("bad_request", { message: `The body must be ${shape}.` });
  const to = read.data.to;
  if (!isValidRecipient(to)) {
    const problem =
      to.length > 254 ? "The address is longer than 254 characters." : recipientProblem(encoder.encode(to));
    throw new ApiError("bad_recipient", { message: problem ?? "This is not an address this service accepts." });
  }
  return { ...read.data, to: to.toLowerCase() };
}

/**
 * Counts the request against its client address; throws 429 `rate_limited` (Retry-After: 60) past
 * ENROLL_IP_LIMITER's limit, 503 if the limiter cannot be asked (closed, as everywhere). 127.0.0.1
 * counts like any address: a local stack gets a higher limit from its own configuration.
 */
export async function limitEnrollClient(request: Request, env: Env): Promise<void> {
  const address = request.headers.get("cf-connecting-ip");
  // No address only outside Cloudflare's network (a test calling the Worker); such callers share one.
  const key = address === null ? "unknown" : clientAddress(address);
  let success: boolean;
  try {
    ({ success } = await env.ENROLL_IP_LIMITER.limit({ key }));
  } catch (cause) {
    console.error(`ingest: ENROLL_IP_LIMITER.limit failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", { headers: { "retry-after": "10" }, cause });
  }
  if (!success) {
    throw new ApiError("rate_limited", {
      message: "Too many enrollment requests from this network; retry after the Retry-After seconds.",
      headers: { "retry-after": IP_RETRY_AFTER_SECONDS },
    });
  }
}

function bodyTooLarge(): ApiError {
  return new ApiError("body_too_large", { message: `The body is at most ${MAX_ENROLL_BODY_BYTES} bytes.` });
}
