import "fake-indexeddb/auto";
import { describe, expect, it, vi } from "vitest";
import {
  type ClientConfig,
  IndexedDbPendingStore,
  type KeyValueStorage,
  LocalStoragePendingStore,
  MemoryPendingStore,
  NotepipeError,
  type PendingNote,
  type PendingStore,
  resumeOnOpen,
} from "../src/index.ts";
import { type Answer, apiError, fakeIngest, json, type RecordedRequest } from "./fake-ingest.ts";

const ENDPOINT = "https://ingest.test";
const DAY_MS = 24 * 60 * 60 * 1000;

/** A lowercase UUID whose last 12 digits count up, so that ids sort in creation order. */
function noteId(n: number): string {
  return `3b241101-e2bb-4255-8caf-${n.toString(16).padStart(12, "0")}`;
}

function pendingNote(id: string, overrides: Partial<PendingNote> = {}): PendingNote {
  return { id, state: "pending", acceptedAt: Date.now() - 1000, ...overrides };
}

/** POST /v1/notes/status as ingest answers it: one entry per id, "unknown" where it has no record. */
function statusAnswer(states: Record<string, Record<string, unknown>>): (request: RecordedRequest) => Response {
  return (request) => {
    const { ids } = JSON.parse(new TextDecoder().decode(request.body)) as { ids: string[] };
    return json(200, {
      notes: ids.map((id) => (states[id] ? { id, ...states[id] } : { id, state: "unknown" })),
    });
  };
}

function setup(store: PendingStore, answers: Answer[], config: Partial<ClientConfig> = {}) {
  const ingest = fakeIngest(answers);
  return { ...ingest, client: { endpoint: ENDPOINT, fetch: ingest.fetch, sleep: ingest.sleep, store, ...config } };
}

describe("resumeOnOpen", () => {
  it("polls every pending note with one POST /v1/notes/status per 100 ids", async () => {
    const store = new MemoryPendingStore();
    const ids = Array.from({ length: 250 }, (_, i) => noteId(i));
    store.put(ids.map((id) => pendingNote(id)));
    const answer = statusAnswer({});
    const { client, requests } = setup(store, [answer, answer, answer]);

    await resumeOnOpen(client);

    expect(requests.map((request) => request.url)).toEqual(Array(3).fill(`${ENDPOINT}/v1/notes/status`));
    expect(requests[0]?.headers["content-type"]).toBe("application/json");
    const polled = requests.map((request) => JSON.parse(new TextDecoder().decode(request.body)).ids as string[]);
    expect(polled.map((chunk) => chunk.length)).toEqual([100, 100, 50]);
    expect(polled.flat()).toEqual(ids);
  });

  it("sends pollAs's token and its address with every poll, and no token without one", async () => {
    const store = new MemoryPendingStore();
    store.put(Array.from({ length: 150 }, (_, i) => pendingNote(noteId(i))));
    const answer = statusAnswer({});
    const pollAs = { token: "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", to: "ada@example.com" };
    const withToken = setup(store, [answer, answer], { pollAs });
    const without = setup(store, [answer, answer]);

    await resumeOnOpen(withToken.client);
    await resumeOnOpen(without.client);

    expect(withToken.requests.map((request) => request.headers)).toEqual(
      Array(2).fill({
        "content-type": "application/json",
        authorization: `Bearer ${pollAs.token}`,
        "notepipe-to": "ada@example.com",
      }),
    );
    expect(without.requests.map((request) => request.headers)).toEqual(
      Array(2).fill({ "content-type": "application/json" }),
    );
  });

  it("makes no request when nothing is pending", async () => {
    const { client, requests } = setup(new MemoryPendingStore(), []);
    expect(await resumeOnOpen(client)).toEqual({ changes: [], pending: [] });
    expect(requests).toEqual([]);
  });

  it("keeps an accepted note the server does not know yet as pending, and reports no change", async () => {
    const store = new MemoryPendingStore();
    store.put([pendingNote(noteId(1))]);
    const { client } = setup(store, [statusAnswer({})]);

    const result = await resumeOnOpen(client);

    expect(result.changes).toEqual([]);
    expect(result.pending.map((note) => [note.id, note.state])).toEqual([[noteId(1), "pending"]]);
  });

  it("stores and reports moved states, and drops notes that reached a final state", async () => {
    const store = new MemoryPendingStore();
    store.put([1, 2, 3, 4, 5, 6].map((n) => pendingNote(noteId(n))));
    const at = "2026-11-23T08:00:00.000Z";
    const { client } = setup(store, [
      statusAnswer({
        [noteId(1)]: { state: "queued", attempts: 0, updatedAt: at },
        [noteId(2)]: { state: "retrying", attempts: 1, updatedAt: at, error: "The provider answered 503." },
        [noteId(3)]: { state: "sent", attempts: 1, updatedAt: at },
        [noteId(4)]: { state: "delivered", attempts: 1, updatedAt: at },
        [noteId(5)]: { state: "failed", attempts: 1, updatedAt: at, error: "The provider refused the recipient." },
        // noteId(6): unknown
      }),
    ]);

    const result = await resumeOnOpen(client);

    expect(result.changes).toEqual([
      { id: noteId(1), previous: "pending", state: "queued", final: false, attempts: 0, updatedAt: at },
      {
        id: noteId(2),
        previous: "pending",
        state: "retrying",
        final: false,
        attempts: 1,
        updatedAt: at,
        error: "The provider answered 503.",
      },
      { id: noteId(3), previous: "pending", state: "sent", final: false, attempts: 1, updatedAt: at },
      { id: noteId(4), previous: "pending", state: "delivered", final: true, attempts: 1, updatedAt: at },
      {
        id: noteId(5),
        previous: "pending",
        state: "failed",
        final: true,
        attempts: 1,
        updatedAt: at,
        error: "The provider refused the recipient.",
      },
    ]);
    const stored = Object.fromEntries((await store.list()).map((note) => [note.id, note.state]));
    expect(stored).toEqual({
      [noteId(1)]: "queued",
      [noteId(2)]: "retrying",
      [noteId(3)]: "sent",
      [noteId(6)]: "pending",
    });
    expect(result.pending.map((note) => note.id).sort()).toEqual([1, 2, 3, 6].map(noteId));
  });

  it("treats bounced, complained and dead as final too, and sent only when the app says so", async () => {
    const store = new MemoryPendingStore();
    store.put([1, 2, 3, 4].map((n) => pendingNote(noteId(n))));
    const states = {
      [noteId(1)]: { state: "bounced", attempts: 1, updatedAt: "t" },
      [noteId(2)]: { state: "complained", attempts: 1, updatedAt: "t" },
      [noteId(3)]: { state: "dead", attempts: 11, updatedAt: "t" },
      [noteId(4)]: { state: "sent", attempts: 1, updatedAt: "t" },
    };
    const { client } = setup(store, [statusAnswer(states)], {
      finalStates: ["sent", "delivered", "bounced", "complained", "failed", "dead"],
    });

    const result = await resumeOnOpen(client);

    expect(result.changes.map((change) => [change.state, change.final])).toEqual([
      ["bounced", true],
      ["complained", true],
      ["dead", true],
      ["sent", true],
    ]);
    expect(await store.list()).toEqual([]);
  });

  it("reports a note that moves again on a later open, and not one that stood still", async () => {
    const store = new MemoryPendingStore();
    store.put([pendingNote(noteId(1)), pendingNote(noteId(2))]);
    const { client } = setup(store, [
      statusAnswer({ [noteId(1)]: { state: "sent", attempts: 1, updatedAt: "t1" } }),
      statusAnswer({
        [noteId(1)]: { state: "delivered", attempts: 1, updatedAt: "t2" },
        [noteId(2)]: { state: "queued", attempts: 0, updatedAt: "t2" },
      }),
      statusAnswer({ [noteId(2)]: { state: "queued", attempts: 0, updatedAt: "t2" } }),
    ]);

    await resumeOnOpen(client);
    const second = await resumeOnOpen(client);
    const third = await resumeOnOpen(client);

    expect(second.changes.map((change) => [change.id, change.previous, change.state])).toEqual([
      [noteId(1), "sent", "delivered"],
      [noteId(2), "pending", "queued"],
    ]);
    expect(third.changes).toEqual([]);
    expect(third.pending.map((note) => [note.id, note.state])).toEqual([[noteId(2), "queued"]]);
  });

  it("gives up on a note still unknown after the 30 days a status record lives: expired", async () => {
    const store = new MemoryPendingStore();
    store.put([pendingNote(noteId(1), { acceptedAt: Date.now() - 31 * DAY_MS }), pendingNote(noteId(2))]);
    const { client } = setup(store, [statusAnswer({})]);

    const result = await resumeOnOpen(client);

    expect(result.changes).toEqual([{ id: noteId(1), previous: "pending", state: "expired", final: true }]);
    expect((await store.list()).map((note) => note.id)).toEqual([noteId(2)]);
  });

  it("throws a typed error when a poll fails, leaving the store as it was", async () => {
    const store = new MemoryPendingStore();
    const note = pendingNote(noteId(1));
    store.put([note]);
    const { client } = setup(store, [apiError(400, "bad_request", "ids must hold 1 to 100 note ids.")]);

    const error = await resumeOnOpen(client).catch((error: unknown) => error);

    expect(error).toBeInstanceOf(NotepipeError);
    expect(error).toMatchObject({ code: "bad_request", status: 400, retryable: false });
    expect(store.list()).toEqual([note]);
  });

  it("retries a poll that got no answer", async () => {
    const store = new MemoryPendingStore();
    store.put([pendingNote(noteId(1))]);
    const { client, requests } = setup(store, [
      new TypeError("fetch failed"),
      statusAnswer({ [noteId(1)]: { state: "sent", attempts: 1, updatedAt: "t" } }),
    ]);

    const result = await resumeOnOpen(client);

    expect(requests).toHaveLength(2);
    expect(result.changes.map((change) => change.state)).toEqual(["sent"]);
  });
});

describe("IndexedDbPendingStore", () => {
  let databases = 0;

  it("keeps each note through a new instance (the next app start), every write with strict durability", async () => {
    const name = `pending-${databases++}`;
    const transaction = vi.spyOn(IDBDatabase.prototype, "transaction");
    await new IndexedDbPendingStore(name).put([
      pendingNote(noteId(1), { acceptedAt: 1 }),
      pendingNote(noteId(2), { acceptedAt: 2 }),
    ]);
    await new IndexedDbPendingStore(name).remove([noteId(1)]);

    expect(await new IndexedDbPendingStore(name).list()).toEqual([{ id: noteId(2), state: "pending", acceptedAt: 2 }]);
    const writes = transaction.mock.calls.filter(([, mode]) => mode === "readwrite");
    expect(writes).toEqual([
      ["notes", "readwrite", { durability: "strict" }],
      ["notes", "readwrite", { durability: "strict" }],
    ]);
  });

  it("works as resumeOnOpen's store", async () => {
    const store = new IndexedDbPendingStore(`pending-${databases++}`);
    await store.put([pendingNote(noteId(1))]);
    const { client } = setup(store, [
      statusAnswer({ [noteId(1)]: { state: "delivered", attempts: 1, updatedAt: "t" } }),
    ]);

    expect((await resumeOnOpen(client)).changes.map((change) => change.state)).toEqual(["delivered"]);
    expect(await store.list()).toEqual([]);
  });
});

describe("LocalStoragePendingStore", () => {
  function fakeStorage(): KeyValueStorage & { data: Map<string, string> } {
    const data = new Map<string, string>();
    return { data, getItem: (key) => data.get(key) ?? null, setItem: (key, value) => void data.set(key, value) };
  }

  it("keeps notes under one key as JSON, and survives a new instance (the next app start)", () => {
    const storage = fakeStorage();
    new LocalStoragePendingStore(storage).put([
      pendingNote(noteId(1), { acceptedAt: 1 }),
      pendingNote(noteId(2), { acceptedAt: 2 }),
    ]);
    new LocalStoragePendingStore(storage).remove([noteId(1)]);

    expect([...storage.data.keys()]).toEqual(["notepipe:pending"]);
    expect(new LocalStoragePendingStore(storage).list()).toEqual([{ id: noteId(2), state: "pending", acceptedAt: 2 }]);
  });

  it("starts over when its key holds something that is not its JSON", () => {
    const storage = fakeStorage();
    storage.setItem("notes", "{not json");
    const store = new LocalStoragePendingStore(storage, "notes");
    expect(store.list()).toEqual([]);
    store.put([pendingNote(noteId(1), { acceptedAt: 1 })]);
    expect(store.list()).toEqual([{ id: noteId(1), state: "pending", acceptedAt: 1 }]);
  });

  it("works as resumeOnOpen's store", async () => {
    const store = new LocalStoragePendingStore(fakeStorage());
    store.put([pendingNote(noteId(1))]);
    const { client } = setup(store, [
      statusAnswer({ [noteId(1)]: { state: "delivered", attempts: 1, updatedAt: "t" } }),
    ]);

    expect((await resumeOnOpen(client)).changes.map((change) => change.state)).toEqual(["delivered"]);
    expect(store.list()).toEqual([]);
  });
});
