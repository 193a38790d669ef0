/**
 * POST /v1/notes: the hot path. A pipe, not a parser: the body is read once, never past the frame's
 * cap (@notepipe/http's readBodyUpTo), decoded in place (subarray views, no copy, no base64, no
 * JSON, no zod) and queued as received.
 *
 * Checks run cheapest first, and nothing costlier runs before a cheaper check has passed:
 *   1. 415 Content-Type                      header only
 *   2. 413 Content-Length                    header only, before the body is read
 *   3. 401 token shape, kid and age          header only, no crypto: a bad token costs no body read
 *   4. 400 / 413 frame (decodeFrame)         reads the body, at most 64 KiB + one chunk of it
 *   5. 403 token MAC against the recipient   one HMAC; needs the recipient, hence after 4
 *   6. 401 token revoked (issued before its  a KV read, kept 30 s by the isolate; only a token whose
 *      address's not-before)                 MAC verified costs one (503 if KV fails: closed)
 *   7. 429 rate limit per token              binding call; only authenticated requests count
 *      (503 if the limiter itself fails: closed, never open)
 *   8. 503 queue send                        the only write
 *   9. 202 {"id"}                            only once the send has resolved
 *
 * It runs before Hono's router (src/index.ts): matching the method and path by hand and building
 * the answer without a Hono Context (with keep_names off) halved the CPU ingest adds to a bare
 * Worker (docs/BENCHMARKS.md). So it takes a Request and answers a Response, its errors included.
 * What stays hand-tuned here for that reason: the method and path match ({@link isPostNote}), the
 * Content-Length check before the token, the one prepared 202 init and its body built as a string.
 * The header checks and the body read are the shared ones (@notepipe/http): they do what the
 * hand-written copies did, and `readBodyUpTo` keeps the fast path the bench asked for.
 *
 * 401 vs 403: 401 `unauthorized` is what can be decided from the Authorization header alone
 * (missing, not Bearer, not `np2.<kid>.<iat>.<43 base64url>` or `np1.<kid>.<43 base64url>`, kid
 * retired or unknown, older than `TOKEN_MAX_AGE_DAYS`), and a token its address's not-before
 * revoked (src/token-validity.ts). 403
 * `recipient_not_allowed` is a well-formed token with a current kid whose MAC does not match the
 * frame's recipient. A token made for another address and a forged MAC are indistinguishable
 * without trying every address, so both are 403.
 * Consequence: a caller with a well-formed token and a current kid learns the frame's 400 code
 * before its MAC is checked. That reveals only what packages/frame/SPEC.md already says; a caller
 * without one is refused before the body is read.
 */

import { decodeFrame, MAX_FRAME_BYTES, noteIdToUuid } from "@notepipe/frame";
import { bearerToken, hasMediaType, readBodyUpTo } from "@notepipe/http";
import { type NoteMessage, notesQueueFor } from "@notepipe/pipeline";
import { parseTokenSecrets, readClientToken, verifyClientToken } from "@notepipe/token";
import { CORS_HEADERS } from "../cors.ts";
import { ApiError, errorResponse } from "../errors.ts";
import { assertTokenNotExpired, assertTokenNotRevoked, unauthorized } from "../token-validity.ts";

/** The `period` of `[[ratelimits]] TOKEN_LIMITER` in wrangler.ingest.toml: a full window always suffices. */
const RATE_LIMIT_RETRY_AFTER_SECONDS = "60";
/** A refused send (or a failed limiter call) is a hiccup or a full backlog; a few seconds is a polite first retry. */
const QUEUE_RETRY_AFTER_SECONDS = "10";

const NOTES_PATH = "/v1/notes";
/** One init for every 202: only the id in the body changes from one answer to the next. */
const ACCEPTED_INIT: ResponseInit = { status: 202, headers: { "content-type": "application/json", ...CORS_HEADERS } };

/**
 * Whether `request` is `POST /v1/notes`, from the method and the URL's text alone (no URL object).
 * Exactly that path, with or without a query; anything else, even a spelling Hono would also match
 * (a percent-encoded path), takes the router, whose route for this path answers the same.
 */
export function isPostNote(request: Request): boolean {
  if (request.method !== "POST") return false;
  const url = request.url;
  // request.url is absolute: "<scheme>://<host>" and the path starts at the first "/" after it.
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  if (pathStart === -1 || !url.startsWith(NOTES_PATH, pathStart)) return false;
  const pathEnd = pathStart + NOTES_PATH.length;
  return pathEnd === url.length || url.charCodeAt(pathEnd) === 0x3f; /* "?" */
}

/** POST /v1/notes, errors included: the 202, or the error's JSON answer. Never rejects. */
export function postNote(request: Request, env: Env): Promise<Response> {
  return acceptNote(request, env).catch(errorResponse);
}

async function acceptNote(request: Request, env: Env): Promise<Response> {
  const headers = request.headers;

  if (!hasMediaType(headers.get("content-type"), "application/octet-stream")) {
    throw new ApiError("unsupported_media_type", { message: "Send the frame as application/octet-stream." });
  }

  const declaredLength = headers.get("content-length");
  if (declaredLength !== null && Number(declaredLength) > MAX_FRAME_BYTES) throw frameTooLarge(declaredLength);

  const authorization = headers.get("authorization");
  if (authorization === null) throw unauthorized("Send Authorization: Bearer <client token>.");
  const tokenText = bearerToken(authorization);
  if (tokenText === undefined) throw unauthorized("The Authorization header must be Bearer <client token>.");
  const secrets = parseTokenSecrets(env.TOKEN_SECRETS);
  const read = readClientToken(tokenText, secrets);
  if (!read.ok) {
    throw unauthorized(
      read.problem === "unknown_kid"
        ? "This client token's key was retired; get a new token."
        : "The client token is malformed; it reads np2.<kid>.<issue time>.<mac>.",
    );
  }
  const now = Date.now();
  assertTokenNotExpired(read.token, env, now);

  // Capped, not request.arrayBuffer(): a chunked body declares no length and would be read whole.
  const frameBytes = await readBodyUpTo(request, MAX_FRAME_BYTES);
  if (frameBytes === undefined) throw frameTooLarge(null);
  const decoded = decodeFrame(frameBytes);
  if (!decoded.ok) throw new ApiError(decoded.error, { message: decoded.message });
  const { frame } = decoded;

  const verdict = await verifyClientToken(read.token, frame.recipient, secrets);
  if (!verdict.ok) throw new ApiError("recipient_not_allowed");
  await assertTokenNotRevoked(read.token, frame.recipient, env, now);

  // Keyed by the token (kid + MAC, one canonical spelling each), not the IP: mobile clients share
  // carrier NAT addresses, and a token is bound to one recipient, which is what the limit protects.
  let success: boolean;
  try {
    ({ success } = await env.TOKEN_LIMITER.limit({ key: tokenText }));
  } catch (cause) {
    // Closed, not open: an unlimited token is what the limit exists to prevent. Nothing was queued.
    // The error's name only: its message could quote the key, which is the client's token.
    console.error(`ingest: TOKEN_LIMITER.limit failed: ${cause instanceof Error ? cause.name : typeof cause}`);
    throw new ApiError("rate_limiter_unavailable", { headers: { "retry-after": QUEUE_RETRY_AFTER_SECONDS }, cause });
  }
  if (!success) throw new ApiError("rate_limited", { headers: { "retry-after": RATE_LIMIT_RETRY_AFTER_SECONDS } });

  // v8 (structured clone), so deliver receives `frame` as a Uint8Array. It must be asked for: from
  // compatibility date 2024-03-18 (flag queues_json_messages) the default is JSON, which turns a
  // Uint8Array into {"0": 78, "1": 80, …}.
  const message: NoteMessage = { frame: frameBytes, acceptedAt: Date.now() };
  try {
    // By size, so that no batch deliver is handed holds more frame bytes than one invocation sends.
    await notesQueueFor(env, frameBytes.length).send(message, { contentType: "v8" });
  } catch (cause) {
    console.error(`ingest: NOTES_QUEUE.send failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    throw new ApiError("queue_unavailable", { headers: { "retry-after": QUEUE_RETRY_AFTER_SECONDS }, cause });
  }

  // The id is hex digits and dashes: safe inside JSON quotes as it is.
  return new Response(`{"id":"${noteIdToUuid(frame.noteId)}"}`, ACCEPTED_INIT);
}

/** What was too large: the declared length, or (null) the bytes the body held, whatever it declared. */
function frameTooLarge(declaredLength: string | null): ApiError {
  const what = declaredLength === null ? "this body holds more" : `this one declares ${declaredLength}`;
  return new ApiError("frame_too_large", { message: `A frame is at most ${MAX_FRAME_BYTES} bytes; ${what}.` });
}
