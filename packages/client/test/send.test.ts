import { decodeFrame, noteIdToUuid } from "@notepipe/frame";
import { describe, expect, it, vi } from "vitest";
import {
  type ClientConfig,
  decryptBytes,
  generateKey,
  MemoryPendingStore,
  NotepipeError,
  parseRetryAfter,
  send,
} from "../src/index.ts";
import { type Answer, apiError, fakeIngest, json } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";
const TOKEN = "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const key = await generateKey();

function setup(answers: Answer[], config: Partial<ClientConfig> = {}) {
  const ingest = fakeIngest(answers);
  const store = new MemoryPendingStore();
  const client: ClientConfig = { endpoint: ENDPOINT, fetch: ingest.fetch, sleep: ingest.sleep, store, ...config };
  return { ...ingest, store, client };
}

const accepted = () => json(202, { id: "ignored" });

async function failure(promise: Promise<unknown>): Promise<NotepipeError> {
  const error = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(error instanceof NotepipeError)) throw new Error(`Expected a NotepipeError, got ${String(error)}`);
  return error;
}

function decoded(body: Uint8Array) {
  const result = decodeFrame(body);
  if (!result.ok) throw new Error(`${result.error}: ${result.message}`);
  return result.frame;
}

describe("send", () => {
  it("posts one frame v1 with the bearer token and returns the note id inside it", async () => {
    const { client, requests } = setup([accepted()]);

    const id = await send(
      { ...client, endpoint: `${ENDPOINT}/` },
      { to: "ada@example.com", text: "Noon.", key, token: TOKEN },
    );

    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request).toMatchObject({
      url: `${ENDPOINT}/v1/notes`,
      method: "POST",
      headers: { "content-type": "application/octet-stream", authorization: `Bearer ${TOKEN}` },
    });
    const frame = decoded(request?.body as Uint8Array);
    expect(noteIdToUuid(frame.noteId)).toBe(id);
    expect(frame.recipient).toBe("ada@example.com");
    expect(frame.nonce).toHaveLength(12);
  });

  it("encrypts the text with AES-GCM under the frame's nonce, so the email decrypts with the key", async () => {
    const { client, requests } = setup([accepted()]);
    await send(client, { to: "ada@example.com", text: "Grüße, 東京 🔐", key, token: TOKEN });

    const frame = decoded(requests[0]?.body as Uint8Array);
    const emailText = `${Buffer.from(frame.nonce).toString("base64")}\n${Buffer.from(frame.ciphertext).toString("base64")}`;
    expect(new TextDecoder().decode(await decryptBytes(emailText, key))).toBe("Grüße, 東京 🔐");
  });

  it("sends bytes as they are", async () => {
    const { client, requests } = setup([accepted()]);
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    await send(client, { to: "ada@example.com", bytes, key, token: TOKEN });

    const frame = decoded(requests[0]?.body as Uint8Array);
    const emailText = `${Buffer.from(frame.nonce).toString("base64")}\n${Buffer.from(frame.ciphertext).toString("base64")}`;
    expect(await decryptBytes(emailText, key)).toEqual(bytes);
  });

  it("picks a fresh note id and nonce for every note", async () => {
    const { client, requests } = setup([accepted(), accepted()]);
    const first = await send(client, { to: "ada@example.com", text: "Same text.", key, token: TOKEN });
    const second = await send(client, { to: "ada@example.com", text: "Same text.", key, token: TOKEN });

    expect(first).not.toBe(second);
    const [a, b] = requests.map((request) => decoded(request.body));
    expect(a?.nonce).not.toEqual(b?.nonce);
  });

  it("records the note as pending once ingest answered 202", async () => {
    const { client, store } = setup([accepted()]);
    const before = Date.now();
    const id = await send(client, { to: "ada@example.com", text: "Noon.", key, token: TOKEN });

    const notes = store.list();
    expect(notes).toEqual([{ id, state: "pending", acceptedAt: expect.any(Number) }]);
    expect(notes[0]?.acceptedAt).toBeGreaterThanOrEqual(before);
  });

  it("sends again under a given note id, so a note whose fate is unknown stays one email", async () => {
    const { client, requests } = setup([accepted()]);
    const noteId = "3b241101-e2bb-4255-8caf-4136c566a962";
    expect(await send(client, { to: "ada@example.com", text: "Again.", key, token: TOKEN, noteId })).toBe(noteId);
    expect(noteIdToUuid(decoded(requests[0]?.body as Uint8Array).noteId)).toBe(noteId);
  });

  it("refuses a note id that is not a lowercase UUID, before any request", async () => {
    const { client, requests } = setup([]);
    const error = await failure(
      send(client, {
        to: "ada@example.com",
        text: "x",
        key,
        token: TOKEN,
        noteId: "3B241101-E2BB-4255-8CAF-4136C566A962",
      }),
    );
    expect(error.code).toBe("bad_id");
    expect(requests).toHaveLength(0);
  });

  it("refuses an address frame v1 does not carry, with the frame's code and no request", async () => {
    const { client, requests, store } = setup([]);
    const error = await failure(send(client, { to: "ada@localhost", text: "x", key, token: TOKEN }));
    expect(error).toMatchObject({ code: "bad_recipient", status: undefined, retryable: false });
    expect(requests).toHaveLength(0);
    expect(store.list()).toEqual([]);
  });

  it("refuses an empty text (a frame carries at least one byte of ciphertext)", async () => {
    const { client } = setup([]);
    expect((await failure(send(client, { to: "ada@example.com", text: "", key, token: TOKEN }))).code).toBe(
      "empty_ciphertext",
    );
  });
});

describe("send's retries", () => {
  it("retry network errors, 503 and 429 with the very same frame bytes, honouring Retry-After", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { client, requests, sleeps, store } = setup([
      new TypeError("fetch failed"),
      apiError(503, "queue_unavailable", "The note could not be queued.", { "retry-after": "7" }),
      apiError(429, "rate_limited", "Too many notes for this token.", { "retry-after": "2" }),
      accepted(),
    ]);

    const id = await send(client, { to: "ada@example.com", text: "Retried.", key, token: TOKEN });

    expect(requests).toHaveLength(4);
    for (const request of requests) expect(request.body).toEqual(requests[0]?.body);
    expect(noteIdToUuid(decoded(requests[0]?.body as Uint8Array).noteId)).toBe(id);
    // Backoff 500 ms × 2^(n-1) with full jitter (0.5 here), never shorter than Retry-After.
    expect(sleeps).toEqual([250, 7000, 2000]);
    expect(store.list().map((note) => note.id)).toEqual([id]);
  });

  it("retry 5xx answers without a JSON body (a proxy's page) too", async () => {
    const { client, requests } = setup([new Response("<html>Bad gateway</html>", { status: 502 }), accepted()]);
    await send(client, { to: "ada@example.com", text: "x", key, token: TOKEN });
    expect(requests).toHaveLength(2);
  });

  it("give up after the configured attempts with a retryable error carrying the note id", async () => {
    const { client, requests, sleeps, store } = setup([new TypeError("a"), new TypeError("b"), new TypeError("c")], {
      retry: { attempts: 3 },
    });

    const error = await failure(send(client, { to: "ada@example.com", text: "x", key, token: TOKEN }));

    expect(error).toMatchObject({ code: "network_error", retryable: true, status: undefined });
    expect(error.noteId).toBe(noteIdToUuid(decoded(requests[0]?.body as Uint8Array).noteId));
    expect(requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    expect(store.list()).toEqual([]);
  });

  it("give up at once when Retry-After asks for longer than maxDelayMs, keeping the server's answer", async () => {
    const { client, requests, sleeps } = setup(
      [apiError(429, "rate_limited", "Too many notes for this token.", { "retry-after": "120" })],
      { retry: { maxDelayMs: 60_000 } },
    );

    const error = await failure(send(client, { to: "ada@example.com", text: "x", key, token: TOKEN }));

    expect(error).toMatchObject({ code: "rate_limited", status: 429, retryable: true, retryAfterMs: 120_000 });
    expect(requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("count an attempt that goes unanswered past timeoutMs as a network error", async () => {
    vi.useFakeTimers();
    try {
      let called!: () => void;
      const fetchCalled = new Promise<void>((resolve) => {
        called = resolve;
      });
      const hangs: typeof fetch = (_input, init) =>
        new Promise((_resolve, reject) => {
          called();
          init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        });
      const client: ClientConfig = { endpoint: ENDPOINT, fetch: hangs, retry: { attempts: 1, timeoutMs: 5000 } };

      const sending = failure(send(client, { to: "ada@example.com", text: "x", key, token: TOKEN }));
      await fetchCalled;
      await vi.advanceTimersByTimeAsync(5000);

      expect(await sending).toMatchObject({
        code: "network_error",
        retryable: true,
        message: "No answer within 5000 ms.",
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    [400, "truncated", "The frame is truncated."],
    [401, "unauthorized", "Send Authorization: Bearer <client token>."],
    [403, "recipient_not_allowed", "This client token is not valid for the frame's recipient."],
    [413, "frame_too_large", "A frame is at most 65536 bytes."],
    [415, "unsupported_media_type", "Send the frame as application/octet-stream."],
  ])("never retry a %i: a typed error with the server's code %s and message", async (status, code, message) => {
    const { client, requests, sleeps, store } = setup([apiError(status, code, message)]);

    const error = await failure(send(client, { to: "ada@example.com", text: "x", key, token: TOKEN }));

    expect(error).toBeInstanceOf(NotepipeError);
    expect(error).toMatchObject({ name: "NotepipeError", code, message, status, retryable: false });
    expect(requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(store.list()).toEqual([]);
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP dates, and ignores anything else", () => {
    const now = Date.parse("2026-11-23T08:00:00Z");
    expect(parseRetryAfter("60", now)).toBe(60_000);
    expect(parseRetryAfter("Mon, 23 Nov 2026 08:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Mon, 23 Nov 2026 07:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter("-5", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
