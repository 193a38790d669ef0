/**
 * CORS, so that a browser app on any origin can call ingest (a native app needs none of it).
 * `*` is safe here: the client token travels in `Authorization`, set by the app's own code, never
 * as an ambient credential (no cookies, no `Access-Control-Allow-Credentials`), so a page on
 * another origin can do nothing with ingest that it could not do with its own token.
 */

/** On every answer, errors included: without the expose list a browser hides Retry-After from the app. */
export const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "retry-after",
} as const;

const PREFLIGHT_INIT: ResponseInit = {
  status: 204,
  headers: {
    ...CORS_HEADERS,
    "access-control-allow-methods": "GET, HEAD, POST",
    // By name: the "*" wildcard never covers Authorization. Both POST routes are preflighted,
    // since neither Authorization nor an octet-stream or JSON Content-Type is CORS-safelisted.
    // Notepipe-To names a status poll's token's address (src/status-poll-limit.ts);
    // CF-Turnstile-Response carries a sign-up page's Turnstile token (src/enrollment/turnstile.ts).
    "access-control-allow-headers": "authorization, content-type, notepipe-to, cf-turnstile-response",
    "access-control-max-age": "86400",
  },
};

/** The answer to a preflight (`OPTIONS`) on any /v1 path. */
export function preflight(): Response {
  return new Response(null, PREFLIGHT_INIT);
}
