/**
 * One call to the ingest API, retried where a retry is safe: on no answer, 429 and 5xx. The body is
 * passed in once and sent as it is on every attempt, which is what makes a retried note one email
 * (the note id inside the frame is the idempotency key).
 */

import type { IngestConnection } from "./config.ts";
import { NotepipeError } from "./errors.ts";

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BASE_DELAY_MS = 500;
/** ingest answers 429 with `Retry-After: 60`; a longer wait ends the call instead (retryable). */
export const DEFAULT_MAX_DELAY_MS = 60_000;
export const DEFAULT_TIMEOUT_MS = 15_000;

const DELTA_SECONDS = /^\s*\d+\s*$/;
/** Every HTTP-date form spells a day or month name; Date.parse alone would take "-5" for a year. */
const HAS_NAME = /[A-Za-z]{3}/;

/**
 * `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 *
 * @example
 * parseRetryAfter("7"); // 7000
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (DELTA_SECONDS.test(value)) return Number(value) * 1000;
  const at = HAS_NAME.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function errorFrom(res: Response, noteId: string | undefined): Promise<NotepipeError> {
  const details = {
    status: res.status,
    retryable: res.status === 429 || res.status >= 500,
    noteId,
    retryAfterMs: parseRetryAfter(res.headers.get("retry-after")),
  };
  let body: { error?: unknown; message?: unknown } | null = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON: answered by something in front of ingest (a proxy, a captive portal).
  }
  const code = body?.error;
  if (typeof code !== "string") {
    return new NotepipeError("unexpected_response", `HTTP ${res.status} without a notepipe error body.`, details);
  }
  return new NotepipeError(code, typeof body?.message === "string" ? body.message : code, details);
}

/**
 * POSTs `body` to `path` (a string as JSON, bytes as a frame), with `headers` besides its
 * `Content-Type`, until it succeeds (2xx), fails for good, or runs out of attempts; throws a
 * {@link NotepipeError} in the last two cases. Waits between attempts grow exponentially with full
 * jitter, and are never shorter than the server's `Retry-After`.
 */
export async function request(
  config: IngestConnection,
  path: string,
  body: Uint8Array<ArrayBuffer> | string,
  headers?: Record<string, string>,
  noteId?: string,
): Promise<Response> {
  const {
    attempts = DEFAULT_ATTEMPTS,
    baseDelayMs = DEFAULT_BASE_DELAY_MS,
    maxDelayMs = DEFAULT_MAX_DELAY_MS,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  } = config.retry ?? {};
  const type = typeof body === "string" ? "application/json" : "application/octet-stream";
  const init = { method: "POST", headers: { "content-type": type, ...headers }, body };
  // Called as a plain function: `config.fetch(…)` would run the browser's fetch with `this` = config,
  // which throws "Illegal invocation".
  const doFetch = config.fetch ?? fetch;
  const url = config.endpoint.replace(/\/+$/, "") + path;
  for (let attempt = 1; ; attempt++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let failure: NotepipeError;
    try {
      const res = await doFetch(url, { ...init, signal: controller.signal });
      if (res.ok) return res;
      failure = await errorFrom(res, noteId);
    } catch (cause) {
      const message = controller.signal.aborted
        ? `No answer within ${timeoutMs} ms.`
        : "No answer: the request failed.";
      failure = new NotepipeError("network_error", message, { retryable: true, noteId, cause });
    } finally {
      clearTimeout(timer);
    }
    if (!failure.retryable || attempt >= attempts) throw failure;
    const backoff = Math.min(maxDelayMs, Math.random() * baseDelayMs * 2 ** (attempt - 1));
    const delay = Math.max(failure.retryAfterMs ?? 0, backoff);
    if (delay > maxDelayMs) throw failure;
    await (config.sleep ?? sleep)(delay);
  }
}
