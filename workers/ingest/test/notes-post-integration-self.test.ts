import { reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { FIXED_HEADER_BYTES, MAX_FRAME_BYTES, NONCE_BYTES } from "@notepipe/frame";
import { type NoteMessage, SMALL_FRAME_MAX_BYTES } from "@notepipe/pipeline";
import { parseTokenSecrets, signClientToken } from "@notepipe/token";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BASE, makeNote, postNote, tokenFor } from "./client.ts";
import { TEST_TOKEN_LIMIT } from "./config.ts";

// Every test starts with a full allowance for every token.
afterEach(() => reset());

/** Header, "ada@example.com" and nonce: what a frame for ada holds besides its ciphertext. */
const MAX_SIZE_OVERHEAD = FIXED_HEADER_BYTES + "ada@example.com".length + NONCE_BYTES;

function errorBody(code: string) {
  return { error: code, message: expect.any(String) };
}

describe("POST /v1/notes accepts a valid frame with its recipient's token", () => {
  it("answers 202 with the note id once the frame is queued", async () => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const note = makeNote("ada@example.com");

    const response = await postNote(note.frame, { token: await tokenFor("ada@example.com") });

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ id: note.id });
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("queues the frame byte for byte as posted, with the accepted-at time, as v8 so it stays bytes", async () => {
    const send = vi.spyOn(env.NOTES_LARGE_QUEUE, "send");
    const note = makeNote("ada@example.com", 16_000);
    const before = Date.now();

    await postNote(note.frame, { token: await tokenFor("ada@example.com") });

    const [message, options] = send.mock.lastCall as [NoteMessage, QueueSendOptions | undefined];
    expect(message.frame).toBeInstanceOf(Uint8Array);
    expect(message.frame).toStrictEqual(note.frame);
    expect(message.acceptedAt).toBeGreaterThanOrEqual(before);
    expect(message.acceptedAt).toBeLessThanOrEqual(Date.now());
    expect(Object.keys(message).sort()).toEqual(["acceptedAt", "frame"]);
    expect(options).toEqual({ contentType: "v8" });
  });

  it("queues frames up to 5,120 bytes on notes and larger ones on notes-large, so no batch outgrows deliver's budget", async () => {
    const small = vi.spyOn(env.NOTES_QUEUE, "send");
    const large = vi.spyOn(env.NOTES_LARGE_QUEUE, "send");
    const token = await tokenFor("ada@example.com");
    const frameOf = (bytes: number) => {
      const probe = makeNote("ada@example.com", 100);
      return makeNote("ada@example.com", 100 + bytes - probe.frame.length).frame;
    };

    for (const bytes of [SMALL_FRAME_MAX_BYTES, SMALL_FRAME_MAX_BYTES + 1]) {
      expect((await postNote(frameOf(bytes), { token })).status).toBe(202);
    }

    expect(small.mock.calls.map(([message]) => (message as NoteMessage).frame.length)).toEqual([SMALL_FRAME_MAX_BYTES]);
    expect(large.mock.calls.map(([message]) => (message as NoteMessage).frame.length)).toEqual([
      SMALL_FRAME_MAX_BYTES + 1,
    ]);
  });

  it("answers 202 again when the same note is posted twice, and queues it both times", async () => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const note = makeNote("ada@example.com");
    const token = await tokenFor("ada@example.com");

    const first = await postNote(note.frame, { token });
    const second = await postNote(note.frame, { token });

    expect([first.status, second.status]).toEqual([202, 202]);
    expect([await first.json(), await second.json()]).toEqual([{ id: note.id }, { id: note.id }]);
    expect(send).toHaveBeenCalledTimes(2);
  });

  it("accepts a token of every current kid", async () => {
    for (const kid of ["k2026a", "k2026b"]) {
      const response = await postNote(makeNote("kid@example.com").frame, {
        token: await tokenFor("kid@example.com", kid),
      });
      expect(response.status).toBe(202);
    }
  });

  it("matches the token to the recipient whatever its case in the frame", async () => {
    const response = await postNote(makeNote("Ada@Example.COM").frame, { token: await tokenFor("ada@example.com") });
    expect(response.status).toBe(202);
  });

  it("accepts the media type and the Bearer scheme in any case, and media type parameters", async () => {
    const token = await tokenFor("ada@example.com");
    const response = await postNote(makeNote("ada@example.com").frame, {
      headers: { "content-type": "Application/Octet-Stream; q=1", authorization: `bearer ${token}` },
    });
    expect(response.status).toBe(202);
  });

  it("accepts a frame of exactly the maximum size", async () => {
    const note = makeNote("ada@example.com", MAX_FRAME_BYTES - MAX_SIZE_OVERHEAD);
    expect(note.frame.length).toBe(MAX_FRAME_BYTES);
    const response = await postNote(note.frame, { token: await tokenFor("ada@example.com") });
    expect(response.status).toBe(202);
  });
});

describe("POST /v1/notes refuses", () => {
  it("415 unsupported_media_type for a body that is not application/octet-stream", async () => {
    const note = makeNote("ada@example.com");
    const token = await tokenFor("ada@example.com");
    for (const contentType of ["application/json", "text/plain", "application/octet-streamx"]) {
      const response = await postNote(note.frame, { token, headers: { "content-type": contentType } });
      expect(response.status).toBe(415);
      expect(await response.json()).toEqual(errorBody("unsupported_media_type"));
    }
  });

  it("413 frame_too_large from Content-Length, before the token is looked at", async () => {
    const response = await postNote(new Uint8Array(MAX_FRAME_BYTES + 1));
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(errorBody("frame_too_large"));
  });

  it("413 frame_too_large from the body's length when no Content-Length is sent", async () => {
    // A valid frame of the maximum size and one byte more.
    const oversized = new Uint8Array(MAX_FRAME_BYTES + 1);
    oversized.set(makeNote("ada@example.com", MAX_FRAME_BYTES - MAX_SIZE_OVERHEAD).frame);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(oversized);
        controller.close();
      },
    });
    const request = new Request(`${BASE}/v1/notes`, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/octet-stream",
        authorization: `Bearer ${await tokenFor("ada@example.com")}`,
      },
    });
    expect(request.headers.get("content-length")).toBeNull();

    const response = await exports.default.fetch(request);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual(errorBody("frame_too_large"));
  });

  describe("400 with the decoder's code for a malformed frame", () => {
    const malformed: [code: string, mutate: (frame: Uint8Array) => Uint8Array][] = [
      ["bad_magic", (frame) => frame.with(0, 0x7b)],
      ["unsupported_version", (frame) => frame.with(2, 2)],
      ["unsupported_flags", (frame) => frame.with(3, 1)],
      ["truncated", (frame) => frame.subarray(0, FIXED_HEADER_BYTES + 4)],
      ["bad_recipient", (frame) => frame.with(FIXED_HEADER_BYTES + 1, 0x20)],
      ["empty_ciphertext", (frame) => frame.subarray(0, frame.length - 1)],
    ];
    it.each(malformed)("%s", async (code, mutate) => {
      const send = vi.spyOn(env.NOTES_QUEUE, "send");
      // 17 bytes is the shortest ciphertext, so dropping one byte empties it.
      const note = makeNote("ada@example.com", 17);
      const response = await postNote(mutate(note.frame), { token: await tokenFor("ada@example.com") });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(errorBody(code));
      expect(send).not.toHaveBeenCalled();
    });
  });

  describe("401 unauthorized for what the Authorization header alone rules out", () => {
    const cases: [name: string, headers: Record<string, string>][] = [
      ["no Authorization header", {}],
      ["another scheme", { authorization: "Basic YWRhOnB3" }],
      ["a bare token", { authorization: "np1.k2026a.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g" }],
      ["a malformed token", { authorization: "Bearer np1.k2026a.not-a-mac" }],
      ["an unknown kid", { authorization: "Bearer np1.k1999.ygyn_SPcMFWdheT5U-o3y2gA_nxd2Riyf9GhYqnLq7g" }],
    ];
    it.each(cases)("%s", async (_, headers) => {
      const response = await postNote(makeNote("ada@example.com").frame, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="notepipe"');
      expect(await response.json()).toEqual(errorBody("unauthorized"));
    });
  });

  it("401 for a token signed with a retired kid, where the current kid's token is accepted", async () => {
    const retired = parseTokenSecrets(JSON.stringify({ k2025: "test-secret-k2025-0123456789" }));
    const note = makeNote("ada@example.com");

    const refused = await postNote(note.frame, { token: await signClientToken(retired, "k2025", "ada@example.com") });
    const accepted = await postNote(note.frame, { token: await tokenFor("ada@example.com", "k2026b") });

    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      error: "unauthorized",
      message: "This client token's key was retired; get a new token.",
    });
    expect(accepted.status).toBe(202);
  });

  it("401 before the frame is looked at: a bad token learns nothing about the body", async () => {
    const response = await postNote(new Uint8Array([1, 2, 3]), { token: "np1.k2026a.garbage" });
    expect(response.status).toBe(401);
  });

  it("403 recipient_not_allowed for a valid token of another recipient", async () => {
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const response = await postNote(makeNote("ada@example.com").frame, { token: await tokenFor("bob@example.com") });
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual(errorBody("recipient_not_allowed"));
    expect(send).not.toHaveBeenCalled();
  });

  it("403 for a well-formed token with a current kid and a forged MAC (indistinguishable from another recipient's)", async () => {
    const forged = `np1.k2026a.${"A".repeat(42)}A`;
    const response = await postNote(makeNote("ada@example.com").frame, { token: forged });
    expect(response.status).toBe(403);
  });

  it("429 rate_limited with Retry-After once a token has used its allowance, and only for that token", async () => {
    const token = await tokenFor("busy@example.com");
    for (let i = 0; i < TEST_TOKEN_LIMIT; i++) {
      expect((await postNote(makeNote("busy@example.com").frame, { token })).status).toBe(202);
    }
    const send = vi.spyOn(env.NOTES_QUEUE, "send");

    const limited = await postNote(makeNote("busy@example.com").frame, { token });
    const otherToken = await postNote(makeNote("calm@example.com").frame, {
      token: await tokenFor("calm@example.com"),
    });

    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(await limited.json()).toEqual(errorBody("rate_limited"));
    expect(otherToken.status).toBe(202);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("429 counts only authenticated frames: refused frames do not use up a token's allowance", async () => {
    const token = await tokenFor("busy@example.com");
    for (let i = 0; i < TEST_TOKEN_LIMIT; i++) {
      expect((await postNote(makeNote("busy@example.com").frame.with(0, 0), { token })).status).toBe(400);
      expect((await postNote(makeNote("other@example.com").frame, { token })).status).toBe(403);
    }
    expect((await postNote(makeNote("busy@example.com").frame, { token })).status).toBe(202);
  });

  it("503 queue_unavailable with Retry-After when the queue refuses the send", async () => {
    vi.spyOn(env.NOTES_QUEUE, "send").mockRejectedValue(new Error("Queue is overloaded"));
    const log = vi.spyOn(console, "error").mockImplementation(() => {});

    const response = await postNote(makeNote("ada@example.com").frame, { token: await tokenFor("ada@example.com") });

    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toEqual(errorBody("queue_unavailable"));
    expect(log).toHaveBeenCalledWith("ingest: NOTES_QUEUE.send failed: Queue is overloaded");
  });

  it("503 rate_limiter_unavailable, nothing queued, when the rate limiter itself fails", async () => {
    vi.spyOn(env.TOKEN_LIMITER, "limit").mockRejectedValue(new TypeError("no limit for key np1.k2026a.…"));
    const send = vi.spyOn(env.NOTES_QUEUE, "send");
    const log = vi.spyOn(console, "error").mockImplementation(() => {});

    const response = await postNote(makeNote("ada@example.com").frame, { token: await tokenFor("ada@example.com") });

    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toEqual(errorBody("rate_limiter_unavailable"));
    expect(send).not.toHaveBeenCalled();
    // Never the message: it could quote the key, which is the client's token.
    expect(log).toHaveBeenCalledWith("ingest: TOKEN_LIMITER.limit failed: TypeError");
  });
});
