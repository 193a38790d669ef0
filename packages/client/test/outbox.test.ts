import { decodeFrame, noteIdToUuid } from "@notepipe/frame";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  createOutbox,
  DEFAULT_EXPIRE_AFTER_MS,
  decryptBytes,
  keepNewKey,
  MemoryKeyStore,
  MemoryOutboxStore,
  type OutboxConfig,
  type OutboxStore,
} from "../src/index.ts";
import { codeOf } from "./email-text.ts";
import { type Answer, apiError, fakeIngest, json, type RecordedRequest } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";
const TOKEN = "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const keys = new MemoryKeyStore();
const { key, id: keyId } = await keepNewKey(keys);

function setup(answers: Answer[], config: Partial<OutboxConfig> = {}) {
  const ingest = fakeIngest(answers);
  const store = new MemoryOutboxStore();
  const outbox = createOutbox({ endpoint: ENDPOINT, keys, fetch: ingest.fetch, sleep: ingest.sleep, store, ...config });
  return { ...ingest, store, outbox };
}

function noteIdIn(request: RecordedRequest | undefined): string {
  const decoded = decodeFrame(request?.body ?? new Uint8Array());
  if (!decoded.ok) throw new Error(decoded.message);
  return noteIdToUuid(decoded.frame.noteId);
}

/** Ingest's 202 for whatever note the request carries. */
const accepted = (request: RecordedRequest) => json(202, { id: noteIdIn(request) });

/** POST /v1/notes/status as ingest answers it; "unknown" for ids not in `states`. */
function statuses(states: Record<string, string>) {
  return (request: RecordedRequest) => {
    const { ids } = JSON.parse(new TextDecoder().decode(request.body)) as { ids: string[] };
    return json(200, {
      notes: ids.map((id) =>
        states[id]
          ? { id, state: states[id], attempts: 1, updatedAt: "2026-01-01T00:00:00Z" }
          : { id, state: "unknown" },
      ),
    });
  };
}

const offline = () => new TypeError("fetch failed");

describe("enqueue", () => {
  it("stores the sealed frame and the token before any request, and returns the note id inside it", async () => {
    const { outbox, store, requests } = setup([]);

    const id = await outbox.enqueue({ to: "ada@example.com", text: "Written on the underground.", token: TOKEN });

    expect(requests).toEqual([]);
    const [record] = await store.list();
    expect(record).toEqual({
      id,
      state: "queued",
      createdAt: expect.any(Number),
      keyId,
      frame: expect.any(Uint8Array),
      to: "ada@example.com",
      token: TOKEN,
    });
    const decoded = decodeFrame(record?.frame as Uint8Array);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(noteIdToUuid(decoded.frame.noteId)).toBe(id);
    const { nonce, ciphertext } = decoded.frame;
    const emailText = `${Buffer.from(nonce).toString("base64")}\n${Buffer.from(ciphertext).toString("base64")}`;
    expect(new TextDecoder().decode(await decryptBytes(emailText, key))).toBe("Written on the underground.");
  });

  it("keeps neither the plaintext nor the key in the store", async () => {
    const { outbox, store } = setup([]);
    const text = "A sentence that must never be stored.";
    await outbox.enqueue({ to: "ada@example.com", text, token: TOKEN });

    const stored = JSON.stringify(await store.list(), (_, value) =>
      value instanceof Uint8Array ? Buffer.from(value).toString("latin1") : value,
    );
    expect(stored).not.toContain(text);
    expect(Object.keys((await store.list())[0] ?? {})).toEqual([
      "id",
      "state",
      "createdAt",
      "keyId",
      "frame",
      "to",
      "token",
    ]);
  });

  it("rejects with storage_failed when the storage refuses the write, and stores nothing", async () => {
    const store = new MemoryOutboxStore();
    const full: OutboxStore = {
      name: store.name,
      list: () => store.list(),
      put: () => Promise.reject(new DOMException("The quota has been exceeded.", "QuotaExceededError")),
      delete: (ids) => store.delete(ids),
      updateLease: (next) => store.updateLease(next),
    };
    const outbox = createOutbox({ endpoint: ENDPOINT, keys, store: full });

    const error = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN }).catch((e) => e);

    expect(error).toMatchObject({ code: "storage_failed", retryable: false });
    expect(error.message).toContain("QuotaExceededError");
    expect(await store.list()).toEqual([]);
  });

  it("refuses what frame v1 cannot carry with its code, storing nothing", async () => {
    const { outbox, store } = setup([]);
    expect(await codeOf(outbox.enqueue({ to: "ada@localhost", text: "x", token: TOKEN }))).toBe("bad_recipient");
    expect(await codeOf(outbox.enqueue({ to: "ada@example.com", text: "", token: TOKEN }))).toBe("empty_ciphertext");
    expect(await store.list()).toEqual([]);
  });

  it("needs a token, or a getToken to ask for one when the note is sent", async () => {
    const { outbox } = setup([]);
    expect(await codeOf(outbox.enqueue({ to: "ada@example.com", text: "x" }))).toBe("unauthorized");
  });
});

describe("drain", () => {
  it("sends queued notes oldest first and marks each accepted, keeping neither frame nor token after", async () => {
    const { outbox, store, requests } = setup([accepted, accepted, accepted, statuses({})]);
    const ids: string[] = [];
    for (const text of ["first", "second", "third"]) {
      ids.push(await outbox.enqueue({ to: "ada@example.com", text, token: TOKEN }));
    }

    const result = await outbox.drain();

    expect(requests.slice(0, 3).map(noteIdIn)).toEqual(ids);
    expect(requests[0]).toMatchObject({
      url: `${ENDPOINT}/v1/notes`,
      headers: { "content-type": "application/octet-stream", authorization: `Bearer ${TOKEN}` },
    });
    expect(result.drained).toBe(true);
    expect(result.changes).toEqual(ids.map((id) => ({ id, previous: "queued", state: "accepted" })));
    expect(result.notes.map((note) => [note.id, note.state])).toEqual(ids.map((id) => [id, "accepted"]));
    for (const record of await store.list()) {
      expect(record).toEqual({
        id: record.id,
        state: "accepted",
        createdAt: expect.any(Number),
        keyId,
        acceptedAt: expect.any(Number),
      });
    }
  });

  it("posts the same bytes under the same id on every attempt, until ingest answers 202", async () => {
    const { outbox, requests } = setup([
      offline(),
      apiError(503, "queue_unavailable", "The note could not be queued.", { "retry-after": "10" }),
      apiError(429, "rate_limited", "Too many notes for this token.", { "retry-after": "60" }),
      accepted,
      statuses({}),
    ]);
    const id = await outbox.enqueue({ to: "ada@example.com", text: "Sent once.", token: TOKEN });

    const results = [await outbox.drain(), await outbox.drain(), await outbox.drain(), await outbox.drain()];

    const posts = requests.filter((request) => request.url.endsWith("/v1/notes"));
    expect(posts).toHaveLength(4);
    for (const post of posts) expect(post.body).toEqual(posts[0]?.body);
    expect(noteIdIn(posts[0])).toBe(id);
    expect(results.map((result) => result.error?.code)).toEqual([
      "network_error",
      "queue_unavailable",
      "rate_limited",
      undefined,
    ]);
    expect(results[2]?.error?.retryAfterMs).toBe(60_000);
    expect(results.map((result) => result.notes[0]?.state)).toEqual(["queued", "queued", "queued", "accepted"]);
  });

  it("stops at a retryable failure, leaving the notes after it queued for the next drain", async () => {
    const { outbox, requests } = setup([offline()]);
    await outbox.enqueue({ to: "ada@example.com", text: "first", token: TOKEN });
    await outbox.enqueue({ to: "ada@example.com", text: "second", token: TOKEN });

    const result = await outbox.drain();

    expect(requests).toHaveLength(1);
    expect(result.error).toMatchObject({ code: "network_error", retryable: true });
    expect(result.changes).toEqual([]);
    expect(result.notes.map((note) => note.state)).toEqual(["queued", "queued"]);
  });

  it("marks a note ingest refuses failed with the server's code, and goes on with the next", async () => {
    const { outbox, store } = setup([
      apiError(403, "recipient_not_allowed", "This client token is not valid for the frame's recipient."),
      accepted,
      statuses({}),
    ]);
    const refused = await outbox.enqueue({ to: "ada@example.com", text: "first", token: TOKEN });
    const fine = await outbox.enqueue({ to: "grace@example.com", text: "second", token: TOKEN });

    const result = await outbox.drain();

    expect(result.changes).toEqual([
      {
        id: refused,
        previous: "queued",
        state: "failed",
        code: "recipient_not_allowed",
        error: "This client token is not valid for the frame's recipient.",
      },
      { id: fine, previous: "queued", state: "accepted" },
    ]);
    expect(result.error).toBeUndefined();
    const stored = await store.list();
    expect(stored.find((record) => record.id === refused)).toEqual({
      id: refused,
      state: "failed",
      createdAt: expect.any(Number),
      keyId,
      code: "recipient_not_allowed",
      error: "This client token is not valid for the frame's recipient.",
    });
  });

  it("keeps a note queued when something other than ingest answers (a captive portal's 200 or 403)", async () => {
    const portal = () => new Response("<html>Sign in to the Wi-Fi</html>", { status: 200 });
    const forbidden = () => new Response("<html>Blocked</html>", { status: 403 });
    const { outbox } = setup([portal(), forbidden()]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const first = await outbox.drain();
    const second = await outbox.drain();

    expect(first.error).toMatchObject({ code: "unexpected_response", status: 200, retryable: true });
    expect(second.error).toMatchObject({ code: "unexpected_response", status: 403, retryable: true });
    expect(second.notes[0]?.state).toBe("queued");
  });

  it("asks getToken for the recipient's token when the note is sent, and keeps it queued if that fails", async () => {
    const asked: string[] = [];
    let backendUp = false;
    const getToken = async (to: string) => {
      asked.push(to);
      if (!backendUp) throw new TypeError("fetch failed");
      return TOKEN;
    };
    const { outbox, requests, store } = setup([accepted, statuses({})], { getToken });
    await outbox.enqueue({ to: "ada@example.com", text: "x" });
    expect((await store.list())[0]).not.toHaveProperty("token");

    const first = await outbox.drain();
    backendUp = true;
    const second = await outbox.drain();

    expect(first.error).toMatchObject({ code: "token_unavailable", retryable: true });
    expect(second.notes[0]?.state).toBe("accepted");
    expect(asked).toEqual(["ada@example.com", "ada@example.com"]);
    expect(requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("asks getToken again when ingest refuses the token with a 401 (a retired kid), and sends the same frame with the new one", async () => {
    const NEW_TOKEN = "np1.k2.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    const asked: unknown[][] = [];
    const getToken = async (...args: unknown[]) => {
      asked.push(args);
      return NEW_TOKEN;
    };
    const retired = apiError(401, "unauthorized", "This client token's key was retired; get a new token.");
    const { outbox, requests } = setup([retired, accepted, statuses({})], { getToken });
    const id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const result = await outbox.drain();

    expect(asked).toEqual([["ada@example.com", { refused: TOKEN }]]);
    expect(requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${NEW_TOKEN}`,
      undefined,
    ]);
    expect(requests[1]?.body).toEqual(requests[0]?.body);
    expect(result.changes).toEqual([{ id, previous: "queued", state: "accepted" }]);
  });

  it("keeps the frame queued, without the refused token, while getToken cannot give a new one", async () => {
    const NEW_TOKEN = "np1.k2.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
    let backendUp = false;
    const getToken = async () => {
      if (!backendUp) throw new TypeError("fetch failed");
      return NEW_TOKEN;
    };
    const retired = () => apiError(401, "unauthorized", "This client token's key was retired; get a new token.");
    const { outbox, requests, store } = setup([retired(), accepted, statuses({})], { getToken });
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const first = await outbox.drain();
    const [waiting] = await store.list();
    backendUp = true;
    const second = await outbox.drain();

    expect(first.error).toMatchObject({ code: "token_unavailable", retryable: true });
    expect(waiting).toMatchObject({ state: "queued", frame: requests[0]?.body });
    expect(waiting).not.toHaveProperty("token");
    expect(requests[1]?.headers.authorization).toBe(`Bearer ${NEW_TOKEN}`);
    expect(requests[1]?.body).toEqual(requests[0]?.body);
    expect(second.notes[0]?.state).toBe("accepted");
  });

  it("fails the note when the token getToken gives after a 401 is refused too", async () => {
    const refused = () => apiError(401, "unauthorized", "Send Authorization: Bearer <client token>.");
    const { outbox, requests } = setup([refused(), refused()], { getToken: async () => TOKEN });
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const result = await outbox.drain();

    expect(requests).toHaveLength(2);
    expect(result.notes[0]).toMatchObject({ state: "failed", code: "unauthorized" });
  });

  it("fails a note refused with a 401 when the outbox has no getToken to ask", async () => {
    const { outbox } = setup([apiError(401, "unauthorized", "Send Authorization: Bearer <client token>.")]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    expect((await outbox.drain()).notes[0]).toMatchObject({ state: "failed", code: "unauthorized" });
  });

  it("sends pollAs's token and its address with its status polls, read at each poll, and the note's own token with its POST", async () => {
    const pollAs = { token: "np1.dev.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", to: "me@example.com" };
    const ingest = fakeIngest([accepted, statuses({}), statuses({})]);
    // The app enrols after it made its outbox: it sets pollAs on the config it passed.
    const config: OutboxConfig = { endpoint: ENDPOINT, keys, fetch: ingest.fetch, store: new MemoryOutboxStore() };
    const outbox = createOutbox(config);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    await outbox.drain();
    config.pollAs = pollAs;
    await outbox.drain();

    expect(ingest.requests.map((request) => [new URL(request.url).pathname, request.headers])).toEqual([
      ["/v1/notes", { "content-type": "application/octet-stream", authorization: `Bearer ${TOKEN}` }],
      ["/v1/notes/status", { "content-type": "application/json" }],
      [
        "/v1/notes/status",
        {
          "content-type": "application/json",
          authorization: `Bearer ${pollAs.token}`,
          "notepipe-to": "me@example.com",
        },
      ],
    ]);
  });

  it("expires a note still unsent after seven days once ingest says it never had it, without sending it", async () => {
    let now = Date.UTC(2026, 0, 1);
    const { outbox, requests } = setup([statuses({})], { now: () => now });
    const id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    now += DEFAULT_EXPIRE_AFTER_MS;
    const result = await outbox.drain();

    expect(requests.map((request) => new URL(request.url).pathname)).toEqual(["/v1/notes/status"]);
    expect(JSON.parse(new TextDecoder().decode(requests[0]?.body))).toEqual({ ids: [id] });
    expect(result.changes).toEqual([{ id, previous: "queued", state: "expired" }]);
  });

  it("shows a note whose 202 was lost as sent, not expired, when the poll at its expiry finds it sent", async () => {
    let now = Date.UTC(2026, 0, 1);
    let id = "";
    const lost202 = () => new TypeError("fetch failed");
    const sent = (request: RecordedRequest) => statuses({ [id]: "sent" })(request);
    const { outbox, requests } = setup([lost202(), sent, sent], { now: () => now });
    id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });
    await outbox.drain();

    now += DEFAULT_EXPIRE_AFTER_MS;
    const result = await outbox.drain();

    expect(requests.map((request) => new URL(request.url).pathname)).toEqual([
      "/v1/notes",
      "/v1/notes/status",
      "/v1/notes/status",
    ]);
    expect(result.changes).toEqual([{ id, previous: "queued", state: "sent" }]);
    expect(result.notes[0]).toMatchObject({ state: "sent", acceptedAt: now, attempts: 1 });
  });

  it("keeps a note at its expiry queued while the poll that would expire it gets no answer", async () => {
    let now = Date.UTC(2026, 0, 1);
    const { outbox } = setup([offline(), statuses({})], { now: () => now });
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    now += DEFAULT_EXPIRE_AFTER_MS;
    const first = await outbox.drain();
    const second = await outbox.drain();

    expect(first.error).toMatchObject({ code: "network_error", retryable: true });
    expect(first.notes[0]?.state).toBe("queued");
    expect(second.notes[0]?.state).toBe("expired");
  });

  it("expires after the configured time instead", async () => {
    let now = Date.UTC(2026, 0, 1);
    const { outbox } = setup([offline(), statuses({})], { now: () => now, expireAfterMs: 60_000 });
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    expect((await outbox.drain()).notes[0]?.state).toBe("queued");
    now += 60_000;
    expect((await outbox.drain()).notes[0]?.state).toBe("expired");
  });

  it("follows an accepted note through sent to delivered, then stops polling it", async () => {
    let id = "";
    const { outbox, requests } = setup([
      accepted,
      statuses({}),
      (request) => statuses({ [id]: "queued" })(request),
      (request) => statuses({ [id]: "sent" })(request),
      (request) => statuses({ [id]: "delivered" })(request),
    ]);
    id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const states = [];
    for (let drain = 0; drain < 4; drain++) states.push((await outbox.drain()).notes[0]?.state);
    const polls = requests.length;
    const after = await outbox.drain();

    expect(states).toEqual(["accepted", "accepted", "sent", "delivered"]);
    expect(requests).toHaveLength(polls);
    expect(after.notes[0]).toMatchObject({ id, state: "delivered", attempts: 1, updatedAt: "2026-01-01T00:00:00Z" });
  });

  it("stops following at sent for a deployment without delivery webhooks", async () => {
    let id = "";
    const { outbox, requests } = setup([accepted, (request) => statuses({ [id]: "sent" })(request)], {
      finalStates: ["sent", "delivered", "bounced", "complained", "failed", "dead"],
    });
    id = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    expect((await outbox.drain()).notes[0]?.state).toBe("sent");
    expect((await outbox.drain()).notes[0]?.state).toBe("sent");
    expect(requests).toHaveLength(2);
  });

  it("shares one drain between calls made while it runs", async () => {
    const { outbox, requests } = setup([accepted, statuses({})]);
    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });

    const [a, b] = await Promise.all([outbox.drain(), outbox.drain()]);

    expect(a).toBe(b);
    expect(requests).toHaveLength(2);
  });

  it("lists notes oldest first as the app sees them, and forgets the ones removed", async () => {
    const { outbox } = setup([]);
    const first = await outbox.enqueue({ to: "ada@example.com", text: "first", token: TOKEN });
    const second = await outbox.enqueue({ to: "ada@example.com", text: "second", token: TOKEN });

    const notes = await outbox.list();
    expect(notes).toEqual([
      { id: first, state: "queued", createdAt: expect.any(Number), keyId },
      { id: second, state: "queued", createdAt: expect.any(Number), keyId },
    ]);
    await outbox.remove([first]);
    expect((await outbox.list()).map((note) => note.id)).toEqual([second]);
  });
});

describe("whatever ingest answers", () => {
  type Outcome = "accept" | "lose" | "refuse" | "busy" | "offline";
  const outcome = fc.constantFrom<Outcome>("accept", "lose", "refuse", "busy", "offline");

  it("posts each note, oldest first, with the same bytes every time, until it is accepted or refused", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(outcome, { maxLength: 12 }), async (count, script) => {
        const outcomes = [...script];
        const posts: { id: string; body: Uint8Array; outcome: Outcome }[] = [];
        const answer = (request: RecordedRequest): Response | Error => {
          if (request.url.endsWith("/v1/notes/status")) return statuses({})(request);
          const next = outcomes.shift() ?? "accept";
          posts.push({ id: noteIdIn(request), body: request.body, outcome: next });
          if (next === "accept") return accepted(request);
          if (next === "refuse") return apiError(403, "recipient_not_allowed", "Not for this recipient.");
          if (next === "busy") return apiError(503, "queue_unavailable", "Busy.", { "retry-after": "10" });
          // "lose": ingest queued it, and the answer never came back. "offline": it never left.
          return new TypeError("fetch failed");
        };
        const { outbox } = setup(Array.from({ length: 100 }, () => answer));
        const ids: string[] = [];
        for (let i = 0; i < count; i++) ids.push(await outbox.enqueue({ to: "a@b.c", text: `${i}`, token: TOKEN }));

        let notes = await outbox.list();
        for (let drain = 0; drain <= script.length + count && notes.some((n) => n.state === "queued"); drain++) {
          notes = (await outbox.drain()).notes;
        }

        const order = posts.map((post) => ids.indexOf(post.id));
        expect(order).toEqual([...order].sort((a, b) => a - b));
        for (const id of ids) {
          const mine = posts.filter((post) => post.id === id);
          for (const post of mine) expect(post.body).toEqual(mine[0]?.body);
          const last = mine.at(-1)?.outcome;
          expect(notes.find((note) => note.id === id)?.state).toBe(last === "refuse" ? "failed" : "accepted");
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("persistent storage", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** The browser's StorageManager (`navigator.storage`), deciding as `grants` says. */
  function storageManager(grants: boolean, persisted = false) {
    const manager = { persisted: vi.fn(async () => persisted), persist: vi.fn(async () => grants) };
    vi.stubGlobal("navigator", { storage: manager });
    return manager;
  }

  it("asks the browser once to keep the outbox's storage through storage pressure, and answers whether it will", async () => {
    const manager = storageManager(true);
    const { outbox } = setup([]);

    expect(await outbox.persistStorage()).toBe(true);
    expect(await outbox.persistStorage()).toBe(true);
    expect(manager.persist).toHaveBeenCalledTimes(1);
  });

  it("does not ask again for storage the browser persists already", async () => {
    const manager = storageManager(false, true);
    const { outbox } = setup([]);

    expect(await outbox.persistStorage()).toBe(true);
    expect(manager.persist).not.toHaveBeenCalled();
  });

  it("asks when the first note is written, not before, and tells start()'s listener when the browser refused", async () => {
    const manager = storageManager(false);
    // No network: the drains start() runs leave the notes queued, and this test is about persist().
    const { outbox } = setup([], { fetch: () => Promise.reject(new TypeError("fetch failed")) });
    let refusals = 0;
    let refused = () => {};
    const told = new Promise<void>((resolve) => {
      refused = resolve;
    });
    const stop = outbox.start({
      onPersistRefused: () => {
        refusals++;
        refused();
      },
    });
    expect(manager.persist).not.toHaveBeenCalled();

    await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN });
    await outbox.enqueue({ to: "ada@example.com", text: "y", token: TOKEN });
    await told;
    stop();

    expect(manager.persist).toHaveBeenCalledTimes(1);
    expect(refusals).toBe(1);
  });

  it("answers undefined where there is no StorageManager (React Native, Node)", async () => {
    vi.stubGlobal("navigator", {});
    const { outbox } = setup([]);

    expect(await outbox.persistStorage()).toBeUndefined();
  });
});
