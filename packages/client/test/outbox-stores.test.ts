/**
 * The storage adapters' contract: what the outbox puts, a store opened again over the same storage
 * (the app's next start) lists exactly, frames byte for byte; the lease is replaced whole.
 */

import "fake-indexeddb/auto";
import fc from "fast-check";
import { createStore, entries } from "idb-keyval";
import { describe, expect, it, vi } from "vitest";
import {
  type AsyncKeyValueStorage,
  AsyncStorageOutboxStore,
  IndexedDbOutboxStore,
  MemoryOutboxStore,
  type OutboxRecord,
  type OutboxStore,
} from "../src/index.ts";

/** AsyncStorage's four methods over a Map: what React Native's AsyncStorage keeps on disk. */
function mapAsyncStorage(): AsyncKeyValueStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    async getItem(key) {
      return items.get(key) ?? null;
    },
    async setItem(key, value) {
      items.set(key, value);
    },
    async removeItem(key) {
      items.delete(key);
    },
    async getAllKeys() {
      return [...items.keys()];
    },
  };
}

let databases = 0;

/** Each adapter, as a way to open it again over the same storage. */
const adapters: [string, () => () => OutboxStore][] = [
  [
    "MemoryOutboxStore",
    () => {
      const store = new MemoryOutboxStore();
      return () => store;
    },
  ],
  [
    "IndexedDbOutboxStore",
    () => {
      const name = `outbox-test-${++databases}`;
      return () => new IndexedDbOutboxStore(name);
    },
  ],
  [
    "AsyncStorageOutboxStore",
    () => {
      const storage = mapAsyncStorage();
      return () => new AsyncStorageOutboxStore(storage);
    },
  ],
];

const record: fc.Arbitrary<OutboxRecord> = fc.record(
  {
    id: fc.uuid(),
    state: fc.constantFrom("queued", "accepted", "sent", "delivered", "failed", "expired"),
    createdAt: fc.nat(),
    acceptedAt: fc.nat(),
    code: fc.string(),
    error: fc.string(),
    attempts: fc.nat(),
    updatedAt: fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
    frame: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => new Uint8Array(bytes)),
    to: fc.emailAddress(),
    token: fc.string(),
  },
  { requiredKeys: ["id", "state", "createdAt"] },
);

const byId = (a: OutboxRecord, b: OutboxRecord) => a.id.localeCompare(b.id);

describe.each(adapters)("%s", (_, open) => {
  it("lists, after a restart, exactly the records put, frames byte for byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(record, { selector: (r) => r.id, maxLength: 8 }), async (records) => {
        const reopen = open();
        const store = reopen();
        for (const r of records) await store.put(r);
        expect((await reopen().list()).sort(byId)).toEqual([...records].sort(byId));
      }),
      { numRuns: 40 },
    );
  });

  it("replaces a record by id, and deletes by id, ignoring unknown ones", async () => {
    const store = open()();
    const id = "3b241101-e2bb-4255-8caf-4136c566a962";
    await store.put({ id, state: "queued", createdAt: 1, frame: new Uint8Array([1]), to: "a@b.c" });
    await store.put({ id, state: "accepted", createdAt: 1, acceptedAt: 2 });
    expect(await store.list()).toEqual([{ id, state: "accepted", createdAt: 1, acceptedAt: 2 }]);

    await store.delete([id, "not-there"]);
    expect(await store.list()).toEqual([]);
  });

  it("holds the lease apart from the notes, and answers the lease it stored", async () => {
    const reopen = open();
    const store = reopen();
    expect(await store.updateLease(() => ({ owner: "a", until: 10 }))).toEqual({ owner: "a", until: 10 });
    expect(await reopen().updateLease((current) => current)).toEqual({ owner: "a", until: 10 });
    expect(await store.list()).toEqual([]);
    expect(await store.updateLease(() => undefined)).toBeUndefined();
    expect(await reopen().updateLease((current) => current)).toBeUndefined();
  });
});

describe("IndexedDbOutboxStore", () => {
  it("stores frames as ArrayBuffers", async () => {
    const store = new IndexedDbOutboxStore("outbox-test-raw");
    await store.put({ id: "x", state: "queued", createdAt: 1, frame: new Uint8Array([7, 8, 9]) });

    const [[, raw]] = (await entries(createStore("outbox-test-raw", "notes"))) as [[string, { frame: unknown }]];
    expect(raw.frame).toBeInstanceOf(ArrayBuffer);
    expect(new Uint8Array(raw.frame as ArrayBuffer)).toEqual(new Uint8Array([7, 8, 9]));
  });

  it("writes each note and each lease in a transaction with strict durability", async () => {
    const transaction = vi.spyOn(IDBDatabase.prototype, "transaction");
    const store = new IndexedDbOutboxStore("outbox-test-strict");

    await store.put({ id: "x", state: "queued", createdAt: 1, frame: new Uint8Array([7]) });
    await store.updateLease(() => ({ owner: "a", until: 10 }));
    await store.delete(["x"]);

    const writes = transaction.mock.calls.filter(([, mode]) => mode === "readwrite");
    expect(writes).toEqual(Array(3).fill(["notes", "readwrite", { durability: "strict" }]));
  });

  it("lets one of two tabs racing for a free lease have it", async () => {
    const tabs = [new IndexedDbOutboxStore("outbox-test-race"), new IndexedDbOutboxStore("outbox-test-race")];
    const claim = (owner: string) => (current: { owner: string; until: number } | undefined) =>
      current === undefined ? { owner, until: 10 } : current;

    const [a, b] = await Promise.all([tabs[0]?.updateLease(claim("a")), tabs[1]?.updateLease(claim("b"))]);

    expect(a).toEqual(b);
  });
});

describe("AsyncStorageOutboxStore", () => {
  it("stores one key per note under its name, frames as base64", async () => {
    const storage = mapAsyncStorage();
    const store = new AsyncStorageOutboxStore(storage, "notes");
    await store.put({ id: "x", state: "queued", createdAt: 1, frame: new Uint8Array([7, 8, 9]) });
    await store.updateLease(() => ({ owner: "a", until: 1 }));

    expect([...storage.items.keys()]).toEqual(["notes:note:x", "notes:lease"]);
    expect(JSON.parse(storage.items.get("notes:note:x") as string).frame).toBe("BwgJ");
  });

  it("leaves other keys of the app's AsyncStorage alone", async () => {
    const storage = mapAsyncStorage();
    await storage.setItem("theme", "dark");
    const store = new AsyncStorageOutboxStore(storage);
    expect(await store.list()).toEqual([]);
    await store.delete(["theme"]);
    expect(storage.items.get("theme")).toBe("dark");
  });
});
