/**
 * The provider webhooks (/webhooks) inside workerd, called on their Hono sub-app against the test's
 * KV: what verifies and what is refused, which events move a note and which do not, and the KV
 * rules (forward only, one write per event, none within a second of the last, each event once).
 */

import { env } from "cloudflare:workers";
import { type StatusMetadata, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import { putRecord } from "../src/status-store.ts";
import { webhooks } from "../src/webhooks/app.ts";
import { verifySvixSignature } from "../src/webhooks/svix-signature.ts";
import { TEST_POSTMARK_CREDENTIALS, TEST_RESEND_WEBHOOK_SECRET } from "./http-config.ts";
import { makeNote, recordOf, secondsToLive } from "./notes.ts";
import { envWith, TEN_MINUTES_AGO } from "./ops.ts";

const encoder = new TextEncoder();

/** Signs as Svix does: HMAC-SHA256 with the secret's key over `${id}.${timestamp}.${body}`, base64. */
async function svixSignature(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    Uint8Array.fromBase64(secret.slice("whsec_".length)),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${new Uint8Array(mac).toBase64()}`;
}

interface ResendPost {
  type?: string;
  noteId?: string | null;
  body?: string;
  id?: string;
  timestamp?: number;
  signature?: string;
  secret?: string;
  environment?: Env;
  data?: Record<string, unknown>;
}

/** A Resend event as Resend posts it, signed unless told otherwise. */
async function postResend(options: ResendPost = {}): Promise<Response> {
  const id = options.id ?? `msg_${crypto.randomUUID().replaceAll("-", "")}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const tags = options.noteId === null ? {} : { note_id: options.noteId ?? makeNote().id, category: "note" };
  const body =
    options.body ??
    JSON.stringify({
      type: options.type ?? "email.delivered",
      created_at: new Date().toISOString(),
      data: {
        email_id: "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
        from: "notepipe <notes@notepipe.dev>",
        to: ["ada@example.com"],
        subject: "Encrypted Note",
        tags,
        ...options.data,
      },
    });
  const signature =
    options.signature ?? (await svixSignature(options.secret ?? TEST_RESEND_WEBHOOK_SECRET, id, timestamp, body));
  return webhooks.request(
    "https://deliver.test/webhooks/resend",
    {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "svix-id": id,
        "svix-timestamp": String(timestamp),
        "svix-signature": signature,
      },
      body,
    },
    options.environment ?? env,
  );
}

async function sentNote(overrides: Partial<StatusRecord> = {}): Promise<StatusRecord> {
  const record: StatusRecord = {
    id: makeNote().id,
    state: "sent",
    attempts: 1,
    updatedAt: TEN_MINUTES_AGO(),
    providerId: "re_4ef9a417",
    ...overrides,
  };
  await putRecord(env.STATUS, record);
  return record;
}

async function metadataOf(id: string): Promise<StatusMetadata | null> {
  return (await env.STATUS.getWithMetadata<StatusMetadata>(statusKey(id))).metadata;
}

describe("the Svix signature", () => {
  it("verifies the example of Svix's documentation", async () => {
    // https://docs.svix.com/receiving/verifying-payloads/how-manual
    const key = await crypto.subtle.importKey(
      "raw",
      Uint8Array.fromBase64("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    const headers = {
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      timestamp: "1614265330",
      signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    const at = 1614265330 * 1000;
    expect(await verifySvixSignature(key, headers, '{"test": 2432232314}', at)).toEqual({
      ok: true,
      id: headers.id,
      timestamp: 1614265330,
    });
    expect(await verifySvixSignature(key, headers, '{"test": 2432232315}', at)).toEqual({
      ok: false,
      problem: "bad_signature",
    });
  });

  it("refuses a wrong secret, a changed body and a malformed signature list with 401 bad_signature", async () => {
    const other = "whsec_b3RoZXItd2ViaG9vay1rZXktMDEyMzQ1Njc4OWFi";
    for (const res of [
      await postResend({ secret: other }),
      await postResend({ signature: "v1,not base64!" }),
      await postResend({ signature: "v2,AAAA" }),
      await postResend({ signature: "" }),
    ]) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toBe("bad_signature");
    }
    const id = "msg_changed";
    const timestamp = Math.floor(Date.now() / 1000);
    const signed = JSON.stringify({ type: "email.delivered", data: { tags: { note_id: makeNote().id } } });
    const res = await postResend({
      id,
      timestamp,
      body: signed.replace("delivered", "bounced"),
      signature: await svixSignature(TEST_RESEND_WEBHOOK_SECRET, id, timestamp, signed),
    });
    expect(await res.json()).toEqual({ error: "bad_signature", message: "The webhook signature does not verify." });
  });

  it("accepts a list with one valid signature among others (a secret rotation)", async () => {
    const record = await sentNote();
    const id = "msg_rotation";
    const timestamp = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: "email.delivered", data: { tags: { note_id: record.id } } });
    const valid = await svixSignature(TEST_RESEND_WEBHOOK_SECRET, id, timestamp, body);
    const res = await postResend({
      id,
      timestamp,
      body,
      signature: `v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= ${valid}`,
    });
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
  });

  it.each([
    ["six minutes old", -360],
    ["six minutes ahead", 360],
  ])("refuses a timestamp %s with 401 stale_timestamp, and writes nothing", async (_what, offset) => {
    const record = await sentNote();
    const res = await postResend({ noteId: record.id, timestamp: Math.floor(Date.now() / 1000) + offset });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe("stale_timestamp");
    expect(await recordOf(record.id)).toEqual(record);
  });

  it("refuses a request without the Svix headers, and answers 503 when the secret is not set", async () => {
    const bare = await webhooks.request("https://deliver.test/webhooks/resend", { method: "POST", body: "{}" }, env);
    expect(bare.status).toBe(401);
    const unset = await postResend({ environment: envWith({ RESEND_WEBHOOK_SECRET: "" }) });
    expect(unset.status).toBe(503);
    expect(((await unset.json()) as { error: string }).error).toBe("not_configured");
  });
});

describe("POST /webhooks/resend", () => {
  it("moves a sent note to delivered with one write that keeps the event id, provider id and TTL", async () => {
    const record = await sentNote();
    const res = await postResend({ noteId: record.id, id: "msg_delivered_1" });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await recordOf(record.id)).toEqual({
      id: record.id,
      state: "delivered",
      attempts: 1,
      updatedAt: expect.any(String),
      providerId: "re_4ef9a417",
    });
    expect(await metadataOf(record.id)).toEqual({ state: "delivered", event: "msg_delivered_1" });
    expect(await secondsToLive(statusKey(record.id))).toBeGreaterThan(29 * 24 * 3600);
  });

  it("accepts each svix-id once: a redelivered event changes nothing", async () => {
    const record = await sentNote();
    await postResend({ noteId: record.id, id: "msg_twice" });
    const after = await recordOf(record.id);

    const again = await postResend({ noteId: record.id, id: "msg_twice" });

    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ received: true, outcome: "duplicate" });
    expect(await recordOf(record.id)).toEqual(after);
  });

  it("records a bounce with the provider's reason, every address masked", async () => {
    const record = await sentNote();
    const res = await postResend({
      type: "email.bounced",
      noteId: record.id,
      data: { bounce: { type: "Permanent", message: "550 5.1.1 <ada@example.com>: mailbox unavailable" } },
    });
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await recordOf(record.id)).toMatchObject({
      state: "bounced",
      error:
        "The recipient's mail server refused the email. The provider said: 550 5.1.1 <<address>>: mailbox unavailable",
    });
  });

  it("moves delivered on to complained, and never back from bounced to delivered", async () => {
    const complained = await sentNote({ state: "delivered" });
    expect(await (await postResend({ type: "email.complained", noteId: complained.id })).json()).toEqual({
      received: true,
      outcome: "applied",
    });
    expect(await recordOf(complained.id)).toMatchObject({
      state: "complained",
      error: "The recipient marked the email as spam.",
    });

    const bounced = await sentNote({ state: "bounced", error: "The recipient's mail server refused the email." });
    const late = await postResend({ type: "email.delivered", noteId: bounced.id });
    expect(await late.json()).toEqual({ received: true, outcome: "not_newer" });
    expect(await recordOf(bounced.id)).toEqual(bounced);
  });

  it("answers 503 with Retry-After: 1 to an event under a second after the sent write, then applies its retry", async () => {
    const record = await sentNote({ updatedAt: new Date().toISOString() });
    const early = await postResend({ noteId: record.id, id: "msg_early" });

    expect(early.status).toBe(503);
    expect(early.headers.get("retry-after")).toBe("1");
    expect(((await early.json()) as { error: string }).error).toBe("retry_later");
    expect(await recordOf(record.id)).toEqual(record);

    // The provider's retry, once the record is older (as it is a second later).
    await putRecord(env.STATUS, { ...record, updatedAt: TEN_MINUTES_AGO() });
    const retry = await postResend({ noteId: record.id, id: "msg_early" });
    expect(await retry.json()).toEqual({ received: true, outcome: "applied" });
  });

  it("answers 503 while the note is not sent yet (no record, queued, retrying), so the provider retries", async () => {
    const queued = await sentNote({ state: "queued" });
    const retrying = await sentNote({ state: "retrying" });
    for (const noteId of [makeNote().id, queued.id, retrying.id]) {
      const res = await postResend({ noteId });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
    }
    expect(await recordOf(queued.id)).toEqual(queued);
  });

  it("moves a note deliver gave up on as possibly sent to delivered: the provider says it went out", async () => {
    const record = await sentNote({ state: "failed", errorCode: "possibly_sent", error: "May have been sent." });
    expect(await (await postResend({ noteId: record.id })).json()).toEqual({ received: true, outcome: "applied" });
    expect(await recordOf(record.id)).toEqual({
      id: record.id,
      state: "delivered",
      attempts: 1,
      updatedAt: expect.any(String),
      providerId: "re_4ef9a417",
    });
  });

  it("reads the note id from the X-Notepipe-Note-Id header when the email has no tag", async () => {
    const record = await sentNote();
    const res = await postResend({
      noteId: null,
      data: { headers: [{ name: "X-Notepipe-Note-Id", value: record.id }] },
    });
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
  });

  it("acknowledges other events and emails without a note id, writing nothing", async () => {
    const record = await sentNote();
    for (const res of [
      await postResend({ type: "email.opened", noteId: record.id }),
      await postResend({ type: "email.sent", noteId: record.id }),
      await postResend({ noteId: null }),
      await postResend({ data: { tags: { note_id: "not-a-uuid" } } }),
    ]) {
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ received: true, outcome: "ignored" });
    }
    expect(await recordOf(record.id)).toEqual(record);
  });

  it("refuses a signed body that is not a Resend event with 400, and a huge one with 413", async () => {
    const notJson = await postResend({ body: "not json" });
    expect(notJson.status).toBe(400);
    const noType = await postResend({ body: JSON.stringify({ data: {} }) });
    expect(await noType.json()).toMatchObject({ error: "bad_request" });
    const huge = await postResend({ body: JSON.stringify({ type: "email.delivered", pad: "x".repeat(300_000) }) });
    expect(huge.status).toBe(413);
  });

  it("answers 405 to another method", async () => {
    const res = await webhooks.request("https://deliver.test/webhooks/resend", { method: "GET" }, env);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });
});

describe("POST /webhooks/postmark", () => {
  const basic = (credentials: string) => `Basic ${btoa(credentials)}`;

  function postPostmark(
    event: Record<string, unknown>,
    authorization: string | null = basic(TEST_POSTMARK_CREDENTIALS),
  ) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== null) headers.authorization = authorization;
    return webhooks.request(
      "https://deliver.test/webhooks/postmark",
      { method: "POST", headers, body: JSON.stringify(event) },
      env,
    );
  }

  it("refuses missing or wrong basic auth with 401 naming the Basic scheme", async () => {
    const record = await sentNote();
    const event = { RecordType: "Delivery", MessageID: "pm-1", Metadata: { note_id: record.id } };
    for (const authorization of [
      null,
      basic("postmark-test:wrong"),
      `Bearer ${TEST_POSTMARK_CREDENTIALS}`,
      "Basic %%%",
    ]) {
      const res = await postPostmark(event, authorization);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe('Basic realm="notepipe-webhooks"');
    }
    expect(await recordOf(record.id)).toEqual(record);
  });

  it("maps Delivery to delivered, a hard Bounce to bounced and a SpamComplaint to complained", async () => {
    const [delivered, bounced, complained] = [await sentNote(), await sentNote(), await sentNote()];
    const results = [
      await postPostmark({ RecordType: "Delivery", MessageID: "pm-d", Metadata: { note_id: delivered.id } }),
      await postPostmark({
        RecordType: "Bounce",
        ID: 42,
        Type: "HardBounce",
        MessageID: "pm-b",
        Description: "The server was unable to deliver your message to bob@example.com.",
        Metadata: { note_id: bounced.id },
      }),
      await postPostmark({
        RecordType: "SpamComplaint",
        ID: 43,
        MessageID: "pm-c",
        Metadata: { note_id: complained.id },
      }),
    ];
    for (const res of results) expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await recordOf(delivered.id)).toMatchObject({ state: "delivered" });
    expect(await recordOf(bounced.id)).toMatchObject({
      state: "bounced",
      error:
        "The recipient's mail server refused the email. The provider said: The server was unable to deliver your message to <address>",
    });
    expect(await recordOf(complained.id)).toMatchObject({ state: "complained" });
    expect(await metadataOf(bounced.id)).toEqual({ state: "bounced", event: "postmark-Bounce-42" });
  });

  it("acknowledges a soft bounce, an unknown record type and a message without note id, writing nothing", async () => {
    const record = await sentNote();
    for (const event of [
      { RecordType: "Bounce", ID: 7, Type: "Transient", Metadata: { note_id: record.id } },
      { RecordType: "Open", MessageID: "pm-o", Metadata: { note_id: record.id } },
      { RecordType: "Delivery", MessageID: "pm-x", Metadata: {} },
    ]) {
      expect(await (await postPostmark(event)).json()).toEqual({ received: true, outcome: "ignored" });
    }
    expect(await recordOf(record.id)).toEqual(record);
  });

  it("refuses a body that is not a Postmark event with 400", async () => {
    const res = await postPostmark({ Type: "HardBounce" });
    expect(res.status).toBe(400);
  });
});
