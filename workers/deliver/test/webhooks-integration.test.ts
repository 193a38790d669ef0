/**
 * The provider webhooks (/webhooks) inside workerd, called on their Hono sub-app against the test's
 * delivery ledger and KV: what verifies and what is refused, which events move a note and which do
 * not, and the ledger's rules (forward only, each event once, unknown notes wait), with KV's record
 * following the ledger, or repaired from it when KV refused the write.
 */

import { env } from "cloudflare:workers";
import { STATUS_TTL_SECONDS, type StatusMetadata, type StatusRecord, statusKey } from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import { webhooks } from "../src/webhooks/app.ts";
import { verifySvixSignature } from "../src/webhooks/svix-signature.ts";
import { TEST_POSTMARK_CREDENTIALS, TEST_RESEND_WEBHOOK_SECRET } from "./http-config.ts";
import {
  ageRequests,
  deadLetterOf,
  envWith,
  expectKvCaughtUp,
  faultyKv,
  faultyLedger,
  ledger,
  ledgerNote,
  repairLater,
} from "./ledger.ts";
import {
  makeNote,
  messageOf,
  mockProvider,
  recordOf,
  resendAccepted,
  resendError,
  runQueue,
  secondsToLive,
  type TestNote,
} from "./notes.ts";

const encoder = new TextEncoder();
const DAY_MS = 24 * 60 * 60 * 1000;

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

/** A note the notes consumer sent: `sent` in the ledger, and KV's record (returned) says so. */
async function sentNote(): Promise<StatusRecord> {
  const note = makeNote();
  mockProvider(resendAccepted);
  await runQueue("notes", [messageOf(note)]);
  const record = await recordOf(note.id);
  expect(record).toMatchObject({ state: "sent", providerId: "re_0" });
  return record as StatusRecord;
}

/** A note whose request the provider answered with a 500: `retrying`, held by that request. */
async function heldNote(): Promise<TestNote> {
  const note = makeNote();
  mockProvider(resendError(500, "internal_server_error", "An unexpected error occurred."));
  await runQueue("notes", [messageOf(note)]);
  expect(await ledgerNote(note.id)).toMatchObject({ state: "retrying", request_key: expect.any(String) });
  return note;
}

/** A held note whose retries ran out: the dead-letter queue filed it `dead`, still held. */
async function deadHeldNote(): Promise<TestNote> {
  const note = await heldNote();
  await runQueue("notes-dlq", [messageOf(note)]);
  expect(await ledgerNote(note.id)).toMatchObject({ state: "dead", dead_letter: 1, request_key: expect.any(String) });
  return note;
}

/**
 * A held note whose request outlived the provider's key window: the next copy of its message
 * makes it `failed`, dead-lettered as possibly sent, for it may not go out again.
 */
async function possiblySentNote(): Promise<TestNote> {
  const note = await heldNote();
  await ageRequests(DAY_MS);
  await runQueue("notes", [messageOf(note, { attempts: 2 })]);
  expect(await deadLetterOf(note.id)).toMatchObject({ reason: "possibly_sent", possiblySent: true });
  return note;
}

/** A note the provider rejected in a permissive batch: `failed`, with a dead letter, held by nothing. */
async function rejectedNote(): Promise<TestNote> {
  const note = makeNote();
  mockProvider(() => Response.json({ data: [], errors: [{ index: 0, message: "Invalid `to` field." }] }));
  await runQueue("notes", [messageOf(note)]);
  expect(await ledgerNote(note.id)).toMatchObject({ state: "failed", dead_letter: 1, request_key: null });
  return note;
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
      ["sign"],
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
  ])("refuses a timestamp %s with 401 stale_timestamp, and changes nothing", async (_what, offset) => {
    const record = await sentNote();
    const row = await ledgerNote(record.id);

    const res = await postResend({ noteId: record.id, timestamp: Math.floor(Date.now() / 1000) + offset });

    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe("stale_timestamp");
    expect(await ledgerNote(record.id)).toEqual(row);
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
  it("moves a sent note to delivered, and KV's record with it, keeping the event id, provider id and TTL", async () => {
    const record = await sentNote();

    const res = await postResend({ noteId: record.id, id: "msg_delivered_1" });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await ledgerNote(record.id)).toMatchObject({ state: "delivered", request_key: null, dead_letter: 0 });
    await expectKvCaughtUp(record.id);
    expect(await recordOf(record.id)).toEqual({
      id: record.id,
      state: "delivered",
      attempts: 1,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      providerId: "re_0",
    });
    expect(await metadataOf(record.id)).toEqual({ state: "delivered", event: "msg_delivered_1" });
    const ttl = await secondsToLive(statusKey(record.id));
    expect(ttl).toBeGreaterThan(STATUS_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(STATUS_TTL_SECONDS);
  });

  it("recognises the provider's retry of an event already applied as a duplicate, and changes nothing", async () => {
    const record = await sentNote();
    await postResend({ noteId: record.id, id: "msg_twice" });
    const [row, after] = [await ledgerNote(record.id), await recordOf(record.id)];

    const again = await postResend({ noteId: record.id, id: "msg_twice" });

    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ received: true, outcome: "duplicate" });
    expect(await ledgerNote(record.id)).toEqual(row);
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
    expect(await ledgerNote(record.id)).toMatchObject({ state: "bounced" });
    expect(await recordOf(record.id)).toEqual({
      id: record.id,
      state: "bounced",
      attempts: 1,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      providerId: "re_0",
      error:
        "The recipient's mail server refused the email. The provider said: 550 5.1.1 <<address>>: mailbox unavailable",
    });
  });

  it("moves delivered on to complained", async () => {
    const record = await sentNote();
    await postResend({ noteId: record.id });

    const res = await postResend({ type: "email.complained", noteId: record.id });

    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await ledgerNote(record.id)).toMatchObject({ state: "complained" });
    expect(await recordOf(record.id)).toMatchObject({
      state: "complained",
      error: "The recipient marked the email as spam.",
    });
  });

  it("moves a note forward only: a late delivered after bounced changes nothing", async () => {
    const record = await sentNote();
    await postResend({ type: "email.bounced", noteId: record.id });
    const [row, bounced] = [await ledgerNote(record.id), await recordOf(record.id)];

    const late = await postResend({ type: "email.delivered", noteId: record.id });

    expect(late.status).toBe(200);
    expect(await late.json()).toEqual({ received: true, outcome: "not_newer" });
    expect(row).toMatchObject({ state: "bounced" });
    expect(await ledgerNote(record.id)).toEqual(row);
    expect(await recordOf(record.id)).toEqual(bounced);
  });

  it("answers 503 with Retry-After to an event for a note the ledger has never seen, so the provider retries", async () => {
    const noteId = makeNote().id;

    const res = await postResend({ noteId });

    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toEqual({ error: "retry_later", message: "The note is not known yet; retry later." });
    expect(await ledgerNote(noteId)).toBeNull();
    expect(await recordOf(noteId)).toBeNull();
  });

  it.each([
    ["still held by a request the provider answered with a 500", heldNote],
    ["dead-lettered while that request still holds it", deadHeldNote],
    ["dead-lettered as possibly sent once its request outlived the key window", possiblySentNote],
  ])("moves a note %s to delivered, and a later copy of its message is acked with no request", async (_what, setup) => {
    const note = await setup();

    const res = await postResend({ noteId: note.id, id: "msg_proof" });

    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await ledgerNote(note.id)).toMatchObject({ state: "delivered", request_key: null, dead_letter: 0 });
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toEqual({
      id: note.id,
      state: "delivered",
      attempts: 1,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await metadataOf(note.id)).toEqual({ state: "delivered", event: "msg_proof" });

    const requests = mockProvider();
    const redelivered = messageOf(note, { attempts: 2 });
    const result = await runQueue("notes", [redelivered]);

    expect(result.explicitAcks).toEqual([redelivered.id]);
    expect(result.retryMessages).toEqual([]);
    expect(requests).toEqual([]);
    expect(await recordOf(note.id)).toMatchObject({ state: "delivered" });
  });

  it("answers 200 when KV refuses the write: the ledger keeps the new state behind, and the repair writes it", async () => {
    const record = await sentNote();
    const kvDown = envWith({ STATUS: faultyKv(env.STATUS, { ops: new Set(["put"]) }) });

    const res = await postResend({ noteId: record.id, environment: kvDown });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    const row = await ledgerNote(record.id);
    expect(row).toMatchObject({ state: "delivered" });
    expect(row?.kv_version).toBeLessThan(row?.version ?? 0);
    expect(await recordOf(record.id)).toEqual(record);

    expect(await repairLater()).toEqual({ behind: 1, written: 1, pruned: 0 });

    expect(await recordOf(record.id)).toEqual({
      id: record.id,
      state: "delivered",
      attempts: 1,
      updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      providerId: "re_0",
    });
    await expectKvCaughtUp(record.id);
  });

  it("answers 503 with Retry-After while the ledger cannot be reached, changing nothing, and applies the retry", async () => {
    const record = await sentNote();
    const row = await ledgerNote(record.id);
    const ledgerDown = envWith({ LEDGER: faultyLedger(env.LEDGER, { before: new Set(["applyEvent"]) }) });

    const res = await postResend({ noteId: record.id, id: "msg_outage", environment: ledgerDown });

    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toEqual({
      error: "retry_later",
      message: "The delivery ledger cannot be reached; retry later.",
    });
    expect(await ledgerNote(record.id)).toEqual(row);
    expect(await recordOf(record.id)).toEqual(record);

    const retry = await postResend({ noteId: record.id, id: "msg_outage" });
    expect(await retry.json()).toEqual({ received: true, outcome: "applied" });
    expect(await recordOf(record.id)).toMatchObject({ state: "delivered" });
  });

  // The provider's word that the email went out outranks an operator giving up on it: in either
  // order the note ends `delivered`, and neither the discard nor a later event moves it back.
  it.each([
    ["the discard lands first", async (id: string) => [await ledger().discard(id), await postResend({ noteId: id })]],
    ["the event lands first", async (id: string) => [await postResend({ noteId: id }), await ledger().discard(id)]],
    ["both at once", (id: string) => Promise.all([ledger().discard(id), postResend({ noteId: id })])],
  ])("settles a delivered event racing a discard of the dead letter as delivered when %s", async (_what, race) => {
    const note = await rejectedNote();

    await race(note.id);
    await repairLater();

    expect(await ledgerNote(note.id)).toMatchObject({ state: "delivered", dead_letter: 0, request_key: null });
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toMatchObject({ state: "delivered" });
    await expectKvCaughtUp(note.id);

    expect(await ledger().discard(note.id)).toEqual({ kind: "not_found" });
    expect(await (await postResend({ type: "email.delivered", noteId: note.id })).json()).toEqual({
      received: true,
      outcome: "not_newer",
    });
    await repairLater();
    expect(await ledgerNote(note.id)).toMatchObject({ state: "delivered" });
    expect(await recordOf(note.id)).toMatchObject({ state: "delivered" });
  });

  it("reads the note id from the X-Notepipe-Note-Id header when the email has no tag", async () => {
    const record = await sentNote();
    const res = await postResend({
      noteId: null,
      data: { headers: [{ name: "X-Notepipe-Note-Id", value: record.id }] },
    });
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await ledgerNote(record.id)).toMatchObject({ state: "delivered" });
  });

  it("finds the note id among headers of other shapes, passing over the entries it cannot read", async () => {
    const record = await sentNote();
    const res = await postResend({
      noteId: null,
      data: {
        headers: [7, null, { value: "no name" }, { name: 3 }, { name: "x-notepipe-note-id", value: record.id }],
      },
    });
    expect(await res.json()).toEqual({ received: true, outcome: "applied" });
    expect(await ledgerNote(record.id)).toMatchObject({ state: "delivered" });
  });

  it("acknowledges other events and emails without a note id, changing nothing", async () => {
    const record = await sentNote();
    const row = await ledgerNote(record.id);
    for (const res of [
      await postResend({ type: "email.opened", noteId: record.id }),
      await postResend({ type: "email.sent", noteId: record.id }),
      await postResend({ noteId: null }),
      await postResend({ data: { tags: { note_id: "not-a-uuid" } } }),
    ]) {
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ received: true, outcome: "ignored" });
    }
    expect(await ledgerNote(record.id)).toEqual(row);
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

  it("refuses missing or wrong basic auth with 401 naming the Basic scheme, changing nothing", async () => {
    const record = await sentNote();
    const row = await ledgerNote(record.id);
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
    expect(await ledgerNote(record.id)).toEqual(row);
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
    expect(await ledgerNote(delivered.id)).toMatchObject({ state: "delivered" });
    expect(await ledgerNote(bounced.id)).toMatchObject({ state: "bounced" });
    expect(await ledgerNote(complained.id)).toMatchObject({ state: "complained" });
    expect(await recordOf(delivered.id)).toMatchObject({ state: "delivered" });
    expect(await recordOf(bounced.id)).toMatchObject({
      state: "bounced",
      error:
        "The recipient's mail server refused the email. The provider said: The server was unable to deliver your message to <address>",
    });
    expect(await recordOf(complained.id)).toMatchObject({ state: "complained" });
    expect(await metadataOf(bounced.id)).toEqual({ state: "bounced", event: "postmark-Bounce-42" });
  });

  it("recognises Postmark's retry of a Delivery already applied as a duplicate", async () => {
    const record = await sentNote();
    const event = { RecordType: "Delivery", MessageID: "pm-twice", Metadata: { note_id: record.id } };
    await postPostmark(event);

    const again = await postPostmark(event);

    expect(await again.json()).toEqual({ received: true, outcome: "duplicate" });
  });

  it("acknowledges a soft bounce, an unknown record type and a message without note id, changing nothing", async () => {
    const record = await sentNote();
    const row = await ledgerNote(record.id);
    for (const event of [
      { RecordType: "Bounce", ID: 7, Type: "Transient", Metadata: { note_id: record.id } },
      { RecordType: "Open", MessageID: "pm-o", Metadata: { note_id: record.id } },
      { RecordType: "Delivery", MessageID: "pm-x", Metadata: {} },
    ]) {
      expect(await (await postPostmark(event)).json()).toEqual({ received: true, outcome: "ignored" });
    }
    expect(await ledgerNote(record.id)).toEqual(row);
    expect(await recordOf(record.id)).toEqual(record);
  });

  it("refuses a body that is not a Postmark event with 400", async () => {
    const res = await postPostmark({ Type: "HardBounce" });
    expect(res.status).toBe(400);
  });
});
