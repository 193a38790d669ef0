/**
 * The providers' documented contracts, row by row (packages/local-provider/src/resend-contract.ts
 * and postmark-contract.ts): what the strict local provider answers, and what deliver decides for
 * that answer. Deliver's own requests go through its own `sendEmails`, with fetch answered by the
 * local provider's app in this isolate; a request deliver never builds (no User-Agent, 101 emails)
 * is posted to the app directly and its answer handed to deliver's classifier. Every row of both
 * contracts has a case here, and no case lacks a row.
 */

import { env } from "cloudflare:workers";
import { createLocalProvider, type LocalProvider } from "@notepipe/local-provider/app";
import {
  CLOUDFLARE_1010_BODY,
  type ContractRow,
  POSTMARK_CONTRACT,
  POSTMARK_LIMITS,
  RESEND_CONTRACT,
  RESEND_LIMITS,
} from "@notepipe/local-provider/contracts";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULT_USER_AGENT, readConfig } from "../src/config.ts";
import { resetPacing } from "../src/providers/pace.ts";
import { postmarkProvider } from "../src/providers/postmark.ts";
import { type MailProvider, type OutgoingEmail, sendEmails } from "../src/providers/provider.ts";
import { resendProvider } from "../src/providers/resend.ts";
import { parseRetryAfter, pipelineDelaySeconds, retryDelaySeconds } from "../src/queue/backoff.ts";
import { classOf, type SendOutcome } from "../src/queue/outcomes.ts";
import { TEST_MAIL_API_KEY } from "./config.ts";

const read = readConfig(env);
if (!read.ok) throw new Error(read.problem);
const { retry } = read.config;
const { send } = read.config;

/** Deliver's decision for one email, in words: what a note meets after this answer. */
function decide(outcome: SendOutcome): string {
  if (outcome.kind === "accepted") return "accepted";
  const retryAfter = outcome.retryAfterSeconds ?? null;
  switch (classOf(outcome.code)) {
    case "permanent":
      return `dead letter: ${outcome.code}`;
    case "pipeline":
      return `pipeline: ${outcome.code}, the batch waits ${pipelineDelaySeconds(retry, retryAfter)} s`;
    case "transient":
      // The top of the jittered range for a first failure.
      return `retry: ${outcome.code}, within ${retryDelaySeconds(1, retry, retryAfter, () => 0.9999)} s`;
  }
}

const PIPELINE = (code: string) => `pipeline: ${code}, the batch waits ${retry.pipelineSeconds} s`;
const FIRST_RETRY = (code: string) => `retry: ${code}, within ${retry.baseSeconds} s`;

/** One request deliver made and the answer it got. */
interface Exchange {
  request: Request;
  answer: Response;
}

/** A local provider at a URL of its own, with every exchange deliver had with it. */
type StandIn = LocalProvider & { url: string; exchanges: Exchange[] };

const standIns = new Map<string, StandIn>();

/** The strict local provider (its defaults), loosened or faulted only by `options`. */
function provider(options: Parameters<typeof createLocalProvider>[0] = {}): StandIn {
  const url = `https://provider-${standIns.size + 1}.test`;
  const standIn = { ...createLocalProvider({ apiKeys: [TEST_MAIL_API_KEY], ...options }), url, exchanges: [] };
  standIns.set(new URL(url).host, standIn);
  return standIn;
}

// Every fetch deliver makes is answered by the local provider its URL names, in this isolate.
beforeEach(() => {
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    const standIn = standIns.get(new URL(request.url).host);
    if (standIn === undefined) throw new Error(`no local provider at ${request.url}`);
    const answer = await standIn.app.fetch(request.clone());
    standIn.exchanges.push({ request, answer: answer.clone() });
    return answer;
  });
});

function email(recipient = "ada@example.com", ciphertextBytes = 48): OutgoingEmail {
  return {
    noteId: crypto.randomUUID(),
    recipient,
    nonce: crypto.getRandomValues(new Uint8Array(12)),
    ciphertext: new Uint8Array(ciphertextBytes),
  };
}

/** Deliver's own `sendEmails` to `standIn`: one decision per email, and the exchanges it had. */
async function deliverSends(
  standIn: StandIn,
  mail: MailProvider,
  emails: readonly OutgoingEmail[],
  options: { key?: string; apiKey?: string } = {},
): Promise<{ decisions: string[]; exchanges: Exchange[] }> {
  const before = standIn.exchanges.length;
  const settings = { ...send, apiUrl: standIn.url, apiKey: options.apiKey ?? TEST_MAIL_API_KEY };
  const outcomes = await sendEmails(mail, settings, emails, options.key ?? `notepipe-v2-${crypto.randomUUID()}`);
  return { decisions: outcomes.map(decide), exchanges: standIn.exchanges.slice(before) };
}

/** The headers deliver sends to `mail`, changed by `change` (null removes a header). */
function deliverHeaders(mail: MailProvider, change: Record<string, string | null> = {}): Headers {
  const headers = new Headers({
    ...mail.headers(TEST_MAIL_API_KEY, `notepipe-v2-${crypto.randomUUID()}`),
    "user-agent": send.userAgent,
  });
  for (const [name, value] of Object.entries(change)) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  return headers;
}

/** A request deliver does not build, posted to the local provider as it is. */
function postRaw(
  local: StandIn,
  mail: MailProvider,
  body: unknown,
  change: Record<string, string | null> = {},
): Promise<Response> {
  return Promise.resolve(
    local.app.request(mail.path, {
      method: "POST",
      headers: deliverHeaders(mail, change),
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

/** Deliver's decisions for an answer it did not fetch itself, for a request of `count` emails. */
async function decisionsFor(mail: MailProvider, answer: Response, count: number): Promise<string[]> {
  const reply = {
    status: answer.status,
    body: await answer.clone().text(),
    retryAfterSeconds: parseRetryAfter(answer.headers.get("retry-after"), Date.now()),
  };
  return mail.classify(reply, count).map(decide);
}

/** An email as deliver's Resend body holds it, with `overrides`. */
function resendJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(JSON.parse(resendProvider.emailJson(email(), send)) as Record<string, unknown>), ...overrides };
}

/** A message as deliver's Postmark body holds it, with `overrides`. */
function postmarkJson(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...(JSON.parse(postmarkProvider.emailJson(email(), send)) as Record<string, unknown>), ...overrides };
}

/** What deliver decides for a Resend error it is documented to send, `{statusCode, name, message}`. */
function documentedResend(status: number, name: string): Promise<string[]> {
  return decisionsFor(resendProvider, Response.json({ statusCode: status, name, message: name }, { status }), 1);
}

/** A permissive batch of a good email and `bad`: the bad one is dead-lettered, the good one goes out. */
async function expectOneRejected(bad: Record<string, unknown>) {
  const local = provider();
  const answer = await postRaw(local, resendProvider, [resendJson(), bad]);
  expect(answer.status).toBe(200);
  expect(await decisionsFor(resendProvider, answer, 2)).toEqual(["accepted", "dead letter: rejected"]);
  expect(local.state.inbox.size).toBe(1);
}

async function expectPostmarkOneRejected(bad: Record<string, unknown>) {
  const local = provider();
  const answer = await postRaw(local, postmarkProvider, [postmarkJson(), bad]);
  expect(answer.status).toBe(200);
  const results = (await answer.clone().json()) as { ErrorCode: number }[];
  expect(results.map((result) => result.ErrorCode)).toEqual([0, 300]);
  expect(await decisionsFor(postmarkProvider, answer, 2)).toEqual(["accepted", "dead letter: rejected"]);
  expect(local.state.inbox.size).toBe(1);
}

const RESEND_CASES: Record<string, () => Promise<void>> = {
  "user-agent": async () => {
    const local = provider();
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
    expect(exchanges[0]?.request.headers.get("user-agent")).toBe(DEFAULT_USER_AGENT);
    expect(DEFAULT_USER_AGENT).toMatch(/^notepipe\/\d+\.\d+\.\d+$/);
    expect(decisions).toEqual(["accepted"]);

    const refused = await postRaw(local, resendProvider, [resendJson()], { "user-agent": null });
    expect(refused.status).toBe(403);
    expect(await decisionsFor(resendProvider, refused, 3)).toEqual(Array(3).fill(PIPELINE("request_invalid")));
  },
  "edge-1010": async () => {
    const refused = await postRaw(provider(), resendProvider, [resendJson()], { "user-agent": null });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await refused.clone().text()).toBe(CLOUDFLARE_1010_BODY);
    const reply = { status: 403, body: CLOUDFLARE_1010_BODY, retryAfterSeconds: null };
    expect(resendProvider.classify(reply, 1)).toEqual([
      {
        kind: "failed",
        code: "request_invalid",
        detail:
          "Refused in front of the API, before it saw the request (Cloudflare error 1010); a missing User-Agent gets error 1010: check MAIL_USER_AGENT.",
      },
    ]);
  },
  authorization: async () => {
    const answer = await postRaw(provider(), resendProvider, [resendJson()], { authorization: null });
    expect(answer.status).toBe(401);
    expect(await answer.clone().json()).toMatchObject({ name: "missing_api_key" });
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual([PIPELINE("auth_failed")]);
  },
  "api-key": async () => {
    const { decisions, exchanges } = await deliverSends(provider(), resendProvider, [email()], { apiKey: "re_wrong" });
    expect(exchanges[0]?.answer.status).toBe(403);
    expect(decisions).toEqual([PIPELINE("auth_failed")]);
  },
  "content-type": async () => {
    const answer = await postRaw(provider(), resendProvider, [resendJson()], { "content-type": "text/plain" });
    expect(answer.status).toBe(400);
    expect(await answer.clone().json()).toMatchObject({ name: "validation_error" });
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  accept: async () => {
    const answer = await postRaw(provider(), resendProvider, [resendJson()], { accept: "text/html" });
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual(["accepted"]);
  },
  "batch-size": async () => {
    const local = provider();
    const full = Array.from({ length: RESEND_LIMITS.emailsPerBatch }, () => email());
    const { decisions } = await deliverSends(local, resendProvider, full);
    expect(decisions).toEqual(Array(RESEND_LIMITS.emailsPerBatch).fill("accepted"));
    const over = Array.from({ length: RESEND_LIMITS.emailsPerBatch + 1 }, () => resendJson());
    const answer = await postRaw(local, resendProvider, over);
    expect(answer.status).toBe(422);
    expect(await decisionsFor(resendProvider, answer, over.length)).toEqual(
      Array(over.length).fill(PIPELINE("request_invalid")),
    );
  },
  "batch-bytes": async () => {
    // Deliver's largest request: 100 notes of 64 KiB.
    const emails = Array.from({ length: 100 }, () => email("ada@example.com", 65_536 - 12 - 16));
    const { decisions, exchanges } = await deliverSends(provider(), resendProvider, emails);
    expect((await exchanges[0]?.request.clone().text())?.length).toBeGreaterThan(8_000_000);
    expect(decisions).toEqual(Array(100).fill("accepted"));
  },
  "batch-fields": async () => {
    await expectOneRejected(resendJson({ attachments: [{ filename: "a.txt", content: "YQ==" }] }));
    await expectOneRejected(resendJson({ scheduled_at: "in 1 min" }));
  },
  "required-fields": async () => {
    await expectOneRejected(resendJson({ subject: undefined }));
  },
  body: async () => {
    await expectOneRejected(resendJson({ text: undefined }));
  },
  recipients: async () => {
    await expectOneRejected(
      resendJson({ to: Array.from({ length: RESEND_LIMITS.recipientsPerEmail + 1 }, (_, i) => `r${i}@example.com`) }),
    );
  },
  "address-form": async () => {
    await expectOneRejected(resendJson({ to: ["Ada Lovelace"] }));
    const answer = await postRaw(provider(), resendProvider, [resendJson({ to: ["Ada <ada@example.com>"] })]);
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual(["accepted"]);
  },
  tags: async () => {
    await expectOneRejected(resendJson({ tags: [{ name: "note_id", value: "a.b" }] }));
  },
  "strict-validation": async () => {
    const local = provider();
    const answer = await postRaw(local, resendProvider, [resendJson(), resendJson({ to: ["x"] })], {
      "x-batch-validation": "strict",
    });
    expect(answer.status).toBe(422);
    expect(await decisionsFor(resendProvider, answer, 2)).toEqual(Array(2).fill(PIPELINE("request_invalid")));
    expect(local.state.inbox.size).toBe(0);
  },
  "permissive-validation": async () => {
    const { decisions, exchanges } = await deliverSends(provider(), resendProvider, [
      email(),
      email("bob@example.invalid"),
      email(),
    ]);
    expect(exchanges[0]?.request.headers.get("x-batch-validation")).toBe("permissive");
    expect(decisions).toEqual(["accepted", "dead letter: rejected", "accepted"]);
  },
  "validation-mode-value": async () => {
    const answer = await postRaw(provider(), resendProvider, [resendJson()], { "x-batch-validation": "lenient" });
    expect(answer.status).toBe(422);
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "idempotency-key": async () => {
    const answer = await postRaw(provider(), resendProvider, [resendJson()], {
      "idempotency-key": "k".repeat(RESEND_LIMITS.idempotencyKeyChars + 1),
    });
    expect(answer.status).toBe(400);
    expect(await answer.clone().json()).toMatchObject({ name: "invalid_idempotency_key" });
    expect(await decisionsFor(resendProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "idempotency-replay": async () => {
    const local = provider();
    const emails = [email()];
    const first = await deliverSends(local, resendProvider, emails, { key: "notepipe-v2-replay" });
    const again = await deliverSends(local, resendProvider, emails, { key: "notepipe-v2-replay" });
    expect(again.decisions).toEqual(["accepted"]);
    expect(await again.exchanges[0]?.answer.text()).toBe(await first.exchanges[0]?.answer.text());
    expect(local.state.inbox.size).toBe(1);
  },
  "idempotency-payload": async () => {
    const local = provider();
    await deliverSends(local, resendProvider, [email()], { key: "notepipe-v2-payload" });
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()], {
      key: "notepipe-v2-payload",
    });
    expect(exchanges[0]?.answer.status).toBe(409);
    expect(decisions).toEqual(["dead letter: possibly_sent"]);
  },
  "idempotency-concurrent": async () => {
    // The provider takes 50 ms over the first request, holding its key meanwhile.
    const local = provider({ faults: { latencyMs: 50 } });
    const emails = [email()];
    const both = await Promise.all([
      deliverSends(local, resendProvider, emails, { key: "notepipe-v2-concurrent" }),
      deliverSends(local, resendProvider, emails, { key: "notepipe-v2-concurrent" }),
    ]);
    expect(both.map(({ decisions }) => decisions[0]).sort()).toEqual(["accepted", FIRST_RETRY("request_in_progress")]);
    expect(local.state.inbox.size).toBe(1);
  },
  "idempotency-refused": async () => {
    const local = provider({ faults: { burst429: 1 } });
    const emails = [email()];
    const refused = await deliverSends(local, resendProvider, emails, { key: "notepipe-v2-refused" });
    expect(refused.decisions).toEqual(["retry: rate_limited, within 2 s"]);
    // The queue brings the note back after Retry-After; the isolate's own wait is not this row's.
    resetPacing();
    const retried = await deliverSends(local, resendProvider, emails, { key: "notepipe-v2-refused" });
    expect(retried.decisions).toEqual(["accepted"]);
    expect(local.state.inbox.size).toBe(1);
  },
  "idempotency-scope": async () => {
    const local = provider({ apiKeys: [TEST_MAIL_API_KEY, "re_other_team"] });
    const emails = [email()];
    await deliverSends(local, resendProvider, emails, { key: "notepipe-v2-scope" });
    const other = await deliverSends(local, resendProvider, emails, {
      key: "notepipe-v2-scope",
      apiKey: "re_other_team",
    });
    expect(other.decisions).toEqual(["accepted"]);
    expect(local.state.inbox.size).toBe(2);
  },
  "rate-limit": async () => {
    expect(provider().state.rateLimiter.perSecond).toBe(RESEND_LIMITS.requestsPerSecond);
    const now = Date.now();
    const local = provider({ rateLimitPerSecond: 1, now: () => now });
    // Another client of the same team used the second's only request.
    expect((await postRaw(local, resendProvider, [resendJson()])).status).toBe(200);
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
    expect(exchanges[0]?.answer.status).toBe(429);
    expect(await exchanges[0]?.answer.json()).toMatchObject({ name: "rate_limit_exceeded" });
    expect(decisions).toEqual(["retry: rate_limited, within 2 s"]);
  },
  "rate-limit-headers": async () => {
    const { exchanges } = await deliverSends(provider(), resendProvider, [email()]);
    const headers = exchanges[0]?.answer.headers;
    expect(["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"].map((name) => headers?.get(name))).toEqual([
      String(RESEND_LIMITS.requestsPerSecond),
      String(RESEND_LIMITS.requestsPerSecond - 1),
      "1",
    ]);
  },
  quota: async () => {
    for (const reject of ["daily_quota_exceeded", "monthly_quota_exceeded"] as const) {
      const { decisions, exchanges } = await deliverSends(provider({ faults: { reject } }), resendProvider, [email()]);
      expect(exchanges[0]?.answer.status).toBe(429);
      expect(await exchanges[0]?.answer.json()).toMatchObject({ name: reject });
      expect(decisions).toEqual([PIPELINE("quota_exceeded")]);
    }
  },
  "error-shape": async () => {
    const { exchanges } = await deliverSends(provider(), resendProvider, [email()], { apiKey: "re_wrong" });
    expect(await exchanges[0]?.answer.json()).toEqual({
      statusCode: 403,
      name: "invalid_api_key",
      message: "API key is invalid.",
    });
  },
  "restricted-key": async () => {
    const local = provider({ faults: { reject: "restricted_api_key" } });
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
    expect(exchanges[0]?.answer.status).toBe(401);
    expect(decisions).toEqual([PIPELINE("auth_failed")]);
  },
  "sender-not-verified": async () => {
    const local = provider({ faults: { reject: "domain_not_verified" } });
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
    expect(exchanges[0]?.answer.status).toBe(403);
    expect(decisions).toEqual([PIPELINE("sender_not_verified")]);
  },
  "not-found": async () => {
    const { decisions, exchanges } = await deliverSends(provider(), { ...resendProvider, path: "/emails/bulk" }, [
      email(),
    ]);
    expect(exchanges[0]?.answer.status).toBe(404);
    expect(await exchanges[0]?.answer.json()).toMatchObject({ name: "not_found" });
    expect(decisions).toEqual([PIPELINE("request_invalid")]);
  },
  "method-not-allowed": async () => {
    expect((await provider().app.request("/emails/batch")).status).toBe(404);
    expect(await documentedResend(405, "method_not_allowed")).toEqual([PIPELINE("request_invalid")]);
  },
  "other-422": async () => {
    for (const name of [
      "invalid_attachment",
      "invalid_from_address",
      "invalid_access",
      "invalid_parameter",
      "invalid_region",
    ]) {
      expect(await documentedResend(422, name)).toEqual([PIPELINE("request_invalid")]);
    }
  },
  "security-error": async () => {
    expect(await documentedResend(451, "security_error")).toEqual([PIPELINE("unexpected_response")]);
  },
  "server-error": async () => {
    const local = provider({ faults: { errorRate: { "500": 1 } } });
    const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
    expect(await exchanges[0]?.answer.json()).toMatchObject({ statusCode: 500, name: "internal_server_error" });
    expect(decisions).toEqual([FIRST_RETRY("provider_unavailable")]);
    expect(await documentedResend(500, "application_error")).toEqual([FIRST_RETRY("provider_unavailable")]);
  },
  "gateway-error": async () => {
    for (const status of ["502", "503"] as const) {
      const local = provider({ faults: { errorRate: { [status]: 1 } } });
      const { decisions, exchanges } = await deliverSends(local, resendProvider, [email()]);
      expect(exchanges[0]?.answer.headers.get("content-type")).toMatch(/^text\/html/);
      expect(decisions).toEqual([FIRST_RETRY("provider_unavailable")]);
    }
  },
};

const POSTMARK_CASES: Record<string, () => Promise<void>> = {
  accept: async () => {
    const local = provider();
    const { decisions, exchanges } = await deliverSends(local, postmarkProvider, [email()]);
    expect(exchanges[0]?.request.headers.get("accept")).toBe("application/json");
    expect(decisions).toEqual(["accepted"]);
    const refused = await postRaw(local, postmarkProvider, [postmarkJson()], { accept: null });
    expect(refused.status).toBe(415);
    expect(await decisionsFor(postmarkProvider, refused, 2)).toEqual(Array(2).fill(PIPELINE("request_invalid")));
  },
  "content-type": async () => {
    const answer = await postRaw(provider(), postmarkProvider, [postmarkJson()], { "content-type": "text/plain" });
    expect(answer.status).toBe(415);
    expect(await decisionsFor(postmarkProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "server-token": async () => {
    const local = provider();
    const missing = await postRaw(local, postmarkProvider, [postmarkJson()], { "x-postmark-server-token": null });
    expect(missing.status).toBe(401);
    expect(await missing.clone().json()).toMatchObject({ ErrorCode: 10 });
    expect(await decisionsFor(postmarkProvider, missing, 1)).toEqual([PIPELINE("auth_failed")]);
    const { decisions } = await deliverSends(local, postmarkProvider, [email()], { apiKey: "wrong-token" });
    expect(decisions).toEqual([PIPELINE("auth_failed")]);
  },
  "user-agent": async () => {
    const answer = await postRaw(provider(), postmarkProvider, [postmarkJson()], { "user-agent": null });
    expect(await decisionsFor(postmarkProvider, answer, 1)).toEqual(["accepted"]);
  },
  "batch-size": async () => {
    const local = provider();
    const over = Array.from({ length: POSTMARK_LIMITS.messagesPerBatch + 1 }, () => postmarkJson());
    const answer = await postRaw(local, postmarkProvider, over);
    expect(answer.status).toBe(422);
    expect(await answer.clone().json()).toMatchObject({ ErrorCode: 410 });
    expect(await decisionsFor(postmarkProvider, answer, over.length)).toEqual(
      Array(over.length).fill(PIPELINE("request_invalid")),
    );
    const empty = await postRaw(local, postmarkProvider, []);
    expect(await empty.clone().json()).toMatchObject({ ErrorCode: 300 });
  },
  "batch-bytes": async () => {
    // Over 50 MB is more than a Worker's test isolate holds comfortably; the local provider's own
    // test (packages/local-provider/test/contract.test.ts) checks its 413, this what deliver makes of it.
    const answer = new Response("Payload Too Large", { status: 413, headers: { "content-type": "text/plain" } });
    expect(await decisionsFor(postmarkProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "message-bytes": async () => {
    await expectPostmarkOneRejected(postmarkJson({ TextBody: "a".repeat(POSTMARK_LIMITS.bodyBytes + 1) }));
  },
  recipients: async () => {
    const cc = Array.from({ length: POSTMARK_LIMITS.recipientsPerMessage }, (_, i) => `c${i}@example.com`);
    await expectPostmarkOneRejected(postmarkJson({ Cc: cc.join(",") }));
  },
  "address-form": async () => {
    await expectPostmarkOneRejected(postmarkJson({ To: "Ada Lovelace" }));
  },
  body: async () => {
    await expectPostmarkOneRejected(postmarkJson({ TextBody: undefined }));
  },
  tag: async () => {
    await expectPostmarkOneRejected(postmarkJson({ Tag: "t".repeat(POSTMARK_LIMITS.tagChars + 1) }));
  },
  "per-message-results": async () => {
    const { decisions, exchanges } = await deliverSends(provider(), postmarkProvider, [email(), email()]);
    const results = (await exchanges[0]?.answer.json()) as Record<string, unknown>[];
    for (const result of results) {
      expect(result).toEqual({
        ErrorCode: 0,
        Message: "OK",
        MessageID: expect.any(String),
        SubmittedAt: expect.any(String),
        To: expect.any(String),
      });
    }
    expect(decisions).toEqual(["accepted", "accepted"]);
  },
  "inactive-recipient": async () => {
    const { decisions } = await deliverSends(provider(), postmarkProvider, [email(), email("bob@example.invalid")]);
    expect(decisions).toEqual(["accepted", "dead letter: inactive_recipient"]);
  },
  "invalid-json": async () => {
    const answer = await postRaw(provider(), postmarkProvider, "[{");
    expect(await answer.clone().json()).toMatchObject({ ErrorCode: 402 });
    expect(await decisionsFor(postmarkProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "incompatible-json": async () => {
    const answer = await postRaw(provider(), postmarkProvider, postmarkJson());
    expect(answer.status).toBe(422);
    expect(await answer.clone().json()).toMatchObject({ ErrorCode: 403 });
    expect(await decisionsFor(postmarkProvider, answer, 1)).toEqual([PIPELINE("request_invalid")]);
  },
  "no-idempotency": async () => {
    const local = provider();
    const emails = [email()];
    await deliverSends(local, postmarkProvider, emails, { key: "notepipe-v2-twice" });
    const again = await deliverSends(local, postmarkProvider, emails, { key: "notepipe-v2-twice" });
    expect(again.decisions).toEqual(["accepted"]);
    expect(local.state.inbox.size).toBe(2);
  },
  "rate-limit": async () => {
    const now = Date.now();
    const local = provider({ rateLimitPerSecond: 1, now: () => now });
    expect((await postRaw(local, postmarkProvider, [postmarkJson()])).status).toBe(200);
    const { decisions, exchanges } = await deliverSends(local, postmarkProvider, [email()]);
    expect(exchanges[0]?.answer.status).toBe(429);
    expect(exchanges[0]?.answer.headers.get("retry-after")).toBeNull();
    expect(exchanges[0]?.answer.headers.get("ratelimit-reset")).toBeNull();
    expect(await exchanges[0]?.answer.json()).toMatchObject({ ErrorCode: 429 });
    expect(decisions).toEqual([FIRST_RETRY("rate_limited")]);
  },
  "error-shape": async () => {
    const { exchanges } = await deliverSends(provider(), postmarkProvider, [email()], { apiKey: "wrong-token" });
    expect(Object.keys((await exchanges[0]?.answer.json()) as object)).toEqual(["ErrorCode", "Message"]);
  },
  "sender-signature": async () => {
    const local = provider({ faults: { reject: "domain_not_verified" } });
    const { decisions, exchanges } = await deliverSends(local, postmarkProvider, [email()]);
    expect(await exchanges[0]?.answer.json()).toMatchObject({ ErrorCode: 400 });
    expect(decisions).toEqual([PIPELINE("sender_not_verified")]);
  },
  "account-may-not-send": async () => {
    const local = provider({ faults: { reject: "daily_quota_exceeded" } });
    const { decisions, exchanges } = await deliverSends(local, postmarkProvider, [email()]);
    expect(await exchanges[0]?.answer.json()).toMatchObject({ ErrorCode: 405 });
    expect(decisions).toEqual([PIPELINE("quota_exceeded")]);
  },
  "server-error": async () => {
    for (const status of ["500", "503"] as const) {
      const local = provider({ faults: { errorRate: { [status]: 1 } } });
      const { decisions } = await deliverSends(local, postmarkProvider, [email()]);
      expect(decisions).toEqual([FIRST_RETRY("provider_unavailable")]);
    }
  },
};

describe.each([
  ["Resend", RESEND_CONTRACT, RESEND_CASES],
  ["Postmark", POSTMARK_CONTRACT, POSTMARK_CASES],
] as [string, readonly ContractRow[], Record<string, () => Promise<void>>][])("%s's contract", (_, rows, cases) => {
  it("has a case for every row and a row for every case", () => {
    expect(Object.keys(cases).sort()).toEqual(rows.map((row) => row.id).sort());
  });

  it.each(rows.map((row) => [row.id, row] as const))("%s", async (id) => {
    await (cases[id] as () => Promise<void>)();
  });
});
