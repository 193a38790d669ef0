/**
 * The `notes-dlq` consumer: what ran out of retries goes to the dead-letter store with the last
 * error its `retrying` record kept, and the note's state becomes `dead`.
 */

import { env } from "cloudflare:workers";
import {
  DEAD_LETTER_TTL_SECONDS,
  type DeadLetterMetadata,
  deadLetterKey,
  STATUS_TTL_SECONDS,
  statusKey,
} from "@notepipe/pipeline";
import { describe, expect, it } from "vitest";
import {
  deadLetterOf,
  makeNote,
  messageOf,
  mockProvider,
  putRecord,
  rawMessage,
  recordOf,
  runQueue,
  secondsToLive,
} from "./notes.ts";

const MINUTE_MS = 60_000;

describe("the dead-letter queue", () => {
  it("files a note with its last error, attempts and failure times, and sets it dead", async () => {
    const note = makeNote();
    const firstFailureAt = new Date(Date.now() - 300 * MINUTE_MS).toISOString();
    const lastFailureAt = new Date(Date.now() - 2 * MINUTE_MS).toISOString();
    const lastError =
      "The mail provider answered with a server error. The provider said: An unexpected error occurred.";
    await putRecord({
      id: note.id,
      state: "retrying",
      attempts: 11,
      updatedAt: lastFailureAt,
      nextAttemptAt: lastFailureAt,
      error: lastError,
      errorCode: "provider_unavailable",
      firstFailureAt,
      requestKey: "notepipe-v1-unanswered",
      requestKeyAt: firstFailureAt,
      requestSize: 4,
    });
    const requests = mockProvider();
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(result.retryMessages).toEqual([]);
    expect(requests).toHaveLength(0);
    const reason = `Retries ran out after 11 attempt(s). The last: ${lastError}`;
    expect(await deadLetterOf(note.id)).toEqual({
      id: note.id,
      frame: note.frame.toBase64(),
      reason: "provider_unavailable",
      message: reason,
      attempts: 11,
      firstFailureAt,
      lastFailureAt,
      possiblySent: true,
      acceptedAt: 1_790_000_000_000,
    });
    const { metadata } = await env.STATUS.getWithMetadata<DeadLetterMetadata>(deadLetterKey(note.id));
    expect(metadata).toEqual({
      reason: "provider_unavailable",
      attempts: 11,
      firstFailureAt,
      lastFailureAt,
      possiblySent: true,
    });
    expect(await recordOf(note.id)).toEqual({
      id: note.id,
      state: "dead",
      attempts: 11,
      updatedAt: expect.any(String),
      error: reason,
      errorCode: "provider_unavailable",
      firstFailureAt,
    });
    for (const [key, ttl] of [
      [deadLetterKey(note.id), DEAD_LETTER_TTL_SECONDS],
      [statusKey(note.id), STATUS_TTL_SECONDS],
    ] as const) {
      const left = await secondsToLive(key);
      expect(left).toBeGreaterThan(ttl - 60);
      expect(left).toBeLessThanOrEqual(ttl);
    }
  });

  it("waits a second when the last retrying write is under a second old (KV: one write per second per key)", async () => {
    const note = makeNote();
    await putRecord({
      id: note.id,
      state: "retrying",
      attempts: 11,
      updatedAt: new Date().toISOString(),
      errorCode: "rate_limited",
    });
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: 1 }]);
    expect(result.explicitAcks).toEqual([]);
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toMatchObject({ state: "retrying" });
  });

  it("files a note that left no record as retries_exhausted", async () => {
    const note = makeNote();
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(await deadLetterOf(note.id)).toMatchObject({
      reason: "retries_exhausted",
      attempts: 0,
      possiblySent: false,
    });
    expect(await recordOf(note.id)).toMatchObject({ state: "dead", errorCode: "retries_exhausted" });
  });

  it("keeps nothing for a note that another copy has sent", async () => {
    const note = makeNote();
    await putRecord({
      id: note.id,
      state: "sent",
      attempts: 2,
      updatedAt: "2026-11-20T10:00:00.000Z",
      providerId: "re_1",
    });
    const message = messageOf(note);

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(await deadLetterOf(note.id)).toBeNull();
    expect(await recordOf(note.id)).toMatchObject({ state: "sent" });
  });

  it("files a message without a frame under its queue message id", async () => {
    const message = rawMessage({ not: "a note" });

    const result = await runQueue("notes-dlq", [message]);

    expect(result.explicitAcks).toEqual([message.id]);
    expect(await deadLetterOf(`msg-${message.id}`)).toMatchObject({ reason: "undecodable", frame: "" });
  });
});
