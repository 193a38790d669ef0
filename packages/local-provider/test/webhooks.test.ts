/**
 * Delivery webhooks: after each accepted email the provider posts the event a real provider would,
 * signed or authenticated as that provider does, and posts it again, under the same id, until the
 * receiver takes it. Posts go through a `fetch` spy; the clock is vitest's fake one.
 */

import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createLocalProvider, svixSignature, type WebhookOptions } from "../src/index.ts";
import { NOTE_ID, postmarkMessage, postPostmark, postResend, resendEmail } from "./requests.ts";

const SECRET = "whsec_dGVzdC13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWI=";
const OPTIONS: WebhookOptions = {
  resendUrl: "http://127.0.0.1:8787/webhooks/resend",
  resendSecret: SECRET,
  postmarkUrl: "http://127.0.0.1:8787/webhooks/postmark",
  postmarkCredentials: "postmark:password",
  delayMs: 2000,
};

interface Post {
  url: string;
  headers: Headers;
  body: string;
}

let posts: Post[];
let answers: Response[];

beforeEach(() => {
  vi.useFakeTimers();
  posts = [];
  answers = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    posts.push({ url: String(input), headers: new Headers(init?.headers), body: String(init?.body) });
    return answers.shift() ?? new Response('{"received":true}');
  });
});

afterEach(() => {
  vi.useRealTimers();
});

function provider(options: WebhookOptions = OPTIONS) {
  return createLocalProvider({ rateLimitPerSecond: 0, webhooks: options });
}

/** Verifies as the deliver Worker does, with Node's HMAC: an independent check of the signer. */
function verifies(post: Post): boolean {
  const id = post.headers.get("svix-id");
  const timestamp = post.headers.get("svix-timestamp");
  const key = Buffer.from(SECRET.slice(6), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${post.body}`).digest("base64");
  return post.headers.get("svix-signature") === `v1,${expected}`;
}

describe("Resend-style webhooks", () => {
  it("signs as Svix's documentation does", () => {
    expect(
      svixSignature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("posts a signed email.delivered with the note_id tag, after the delay", async () => {
    const { app, state } = provider();
    const sent = (await (await postResend(app, "/emails", resendEmail())).json()) as { id: string };

    await vi.advanceTimersByTimeAsync(1999);
    expect(posts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);

    expect(posts).toHaveLength(1);
    const [post] = posts as [Post];
    expect(post.url).toBe(OPTIONS.resendUrl);
    expect(post.headers.get("svix-id")).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Number(post.headers.get("svix-timestamp"))).toBe(Math.floor(Date.now() / 1000));
    expect(verifies(post)).toBe(true);
    expect(JSON.parse(post.body)).toEqual({
      type: "email.delivered",
      created_at: expect.any(String),
      data: {
        email_id: sent.id,
        created_at: expect.any(String),
        from: "notepipe <notes@notepipe.dev>",
        to: ["ada@example.com"],
        subject: "Encrypted Note",
        tags: { note_id: NOTE_ID },
      },
    });
    expect(state.webhooks?.stats).toEqual({ delivered: 1, retried: 0, abandoned: 0, pending: 0 });
    state.webhooks?.stop();
  });

  it("posts email.bounced for a bounced@ mailbox", async () => {
    const { app, state } = provider();
    await postResend(app, "/emails", resendEmail({ to: "bounced+x@example.com" }));
    await vi.advanceTimersByTimeAsync(2000);
    expect(JSON.parse(posts[0]?.body ?? "{}")).toMatchObject({
      type: "email.bounced",
      data: { bounce: { type: "Permanent" }, tags: { note_id: NOTE_ID } },
    });
    state.webhooks?.stop();
  });

  it("posts a refused event again, same svix-id, fresh signature, after its Retry-After", async () => {
    const { app, state } = provider();
    answers.push(new Response('{"error":"retry_later"}', { status: 503, headers: { "retry-after": "5" } }));
    await postResend(app, "/emails", resendEmail());

    await vi.advanceTimersByTimeAsync(2000);
    expect(posts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(4999);
    expect(posts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);

    expect(posts).toHaveLength(2);
    const [first, second] = posts as [Post, Post];
    expect(second.headers.get("svix-id")).toBe(first.headers.get("svix-id"));
    expect(second.body).toBe(first.body);
    expect(Number(second.headers.get("svix-timestamp"))).toBe(Number(first.headers.get("svix-timestamp")) + 5);
    expect(verifies(second)).toBe(true);
    expect(state.webhooks?.stats).toEqual({ delivered: 1, retried: 1, abandoned: 0, pending: 0 });
    state.webhooks?.stop();
  });

  it("gives an event up after maxAttempts posts without an answer", async () => {
    const { app, state } = provider({ ...OPTIONS, maxAttempts: 3 });
    vi.mocked(fetch).mockRejectedValue(new TypeError("fetch failed"));
    await postResend(app, "/emails", resendEmail());
    await vi.advanceTimersByTimeAsync(2000 + 1000 + 2000);
    expect(vi.mocked(fetch)).toHaveBeenCalledTimes(3);
    expect(state.webhooks?.stats).toEqual({ delivered: 0, retried: 2, abandoned: 1, pending: 0 });
    state.webhooks?.stop();
  });

  it("drops what is pending when stopped", async () => {
    const { app, state } = provider();
    await postResend(app, "/emails/batch", [resendEmail(), resendEmail({ to: "grace@example.com" })]);
    state.webhooks?.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(posts).toHaveLength(0);
  });
});

describe("Postmark-style webhooks", () => {
  it("posts Delivery with basic auth and the message's Metadata", async () => {
    const { app, state } = provider();
    await postPostmark(app, [postmarkMessage()]);
    await vi.advanceTimersByTimeAsync(2000);
    const [post] = posts as [Post];
    expect(post.url).toBe(OPTIONS.postmarkUrl);
    expect(post.headers.get("authorization")).toBe(`Basic ${btoa("postmark:password")}`);
    expect(JSON.parse(post.body)).toMatchObject({
      RecordType: "Delivery",
      Recipient: "ada@example.com",
      Metadata: { note_id: NOTE_ID },
    });
    state.webhooks?.stop();
  });

  it("posts a HardBounce for a bounced@ mailbox, and nothing without a Postmark URL", async () => {
    const { app, state } = provider();
    await postPostmark(app, [postmarkMessage({ To: "bounced@example.com" })]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(JSON.parse(posts[0]?.body ?? "{}")).toMatchObject({
      RecordType: "Bounce",
      Type: "HardBounce",
      Inactive: true,
    });
    state.webhooks?.stop();

    const resendOnly = provider({ resendUrl: OPTIONS.resendUrl, resendSecret: SECRET });
    await postPostmark(resendOnly.app, [postmarkMessage()]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(posts).toHaveLength(1);
    resendOnly.state.webhooks?.stop();
  });
});
