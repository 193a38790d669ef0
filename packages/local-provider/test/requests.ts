/** Request builders the tests share: one valid email per API, and posting them with a good key. */

import type { Hono } from "hono";
import { DEFAULT_API_KEY } from "../src/index.ts";
import type { ProviderEnv } from "../src/state.ts";

export const NOTE_ID = "3b241101-e2bb-4255-8caf-4136c566a962";
/** What deliver sends: Resend's edge refuses a request without a User-Agent. */
export const USER_AGENT = "notepipe/1.0.0";

type App = Hono<ProviderEnv>;

/** An email as the deliver Worker sends it through Resend. */
export function resendEmail(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: "notepipe <notes@notepipe.dev>",
    to: "ada@example.com",
    subject: "Encrypted Note",
    text: "AAAAAAAAAAAAAAAA\nY2lwaGVydGV4dA==",
    tags: [{ name: "note_id", value: NOTE_ID }],
    headers: { "X-Notepipe-Note-Id": NOTE_ID },
    ...overrides,
  };
}

/** A message as the deliver Worker sends it through Postmark. */
export function postmarkMessage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    From: "notepipe <notes@notepipe.dev>",
    To: "ada@example.com",
    Subject: "Encrypted Note",
    TextBody: "AAAAAAAAAAAAAAAA\nY2lwaGVydGV4dA==",
    Headers: [{ Name: "X-Notepipe-Note-Id", Value: NOTE_ID }],
    Metadata: { note_id: NOTE_ID },
    MessageStream: "outbound",
    ...overrides,
  };
}

export async function postResend(
  app: App,
  path: "/emails" | "/emails/batch",
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return app.request(path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${DEFAULT_API_KEY}`,
      "content-type": "application/json",
      "user-agent": USER_AGENT,
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...(signal === undefined ? {} : { signal }),
  });
}

export async function postPostmark(app: App, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return app.request("/email/batch", {
    method: "POST",
    headers: {
      "x-postmark-server-token": DEFAULT_API_KEY,
      accept: "application/json",
      "content-type": "application/json",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

export async function postJson(app: App, path: string, body: unknown): Promise<Response> {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** A clock the test moves by hand, for the rate limit and the 24-hour idempotency window. */
export function manualClock(start = Date.UTC(2026, 10, 1)): { now: () => number; advance: (ms: number) => void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}
