/**
 * The key store: a note is encrypted only under a key the store kept and answered back, each note
 * names its key, and a store opened again (the app's next start) answers the same key.
 */

import "fake-indexeddb/auto";
import { decodeFrame } from "@notepipe/frame";
import { describe, expect, it, vi } from "vitest";
import {
  type AsyncKeyValueStorage,
  AsyncStorageKeyStore,
  createOutbox,
  currentKey,
  decrypt,
  findKey,
  generateKey,
  IndexedDbKeyStore,
  type KeyStore,
  keepKey,
  keepNewKey,
  MemoryKeyStore,
  MemoryOutboxStore,
  type OutboxRecord,
} from "../src/index.ts";
import { codeOf } from "./email-text.ts";

const TOKEN = "np1.dev.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
let databases = 0;

/** The email text deliver would write for a stored note. */
function emailTextOf(record: OutboxRecord | undefined): string {
  const decoded = decodeFrame(record?.frame ?? new Uint8Array());
  if (!decoded.ok) throw new Error(decoded.message);
  const { nonce, ciphertext } = decoded.frame;
  return `${Buffer.from(nonce).toString("base64")}\n${Buffer.from(ciphertext).toString("base64")}`;
}

function outboxOver(keys: KeyStore) {
  const store = new MemoryOutboxStore();
  return { store, outbox: createOutbox({ endpoint: "https://ingest.test", store, keys }) };
}

describe("the outbox encrypts only under a key its store kept", () => {
  it("refuses with key_not_stored while the key store holds no key, and stores nothing", async () => {
    const { outbox, store } = outboxOver(new MemoryKeyStore());

    const error = await outbox.enqueue({ to: "ada@example.com", text: "x", token: TOKEN }).catch((e) => e);

    expect(error).toMatchObject({ code: "key_not_stored", retryable: false });
    expect(await store.list()).toEqual([]);
  });

  it("refuses a key handed to enqueue, even with a key in the store: the store's is the one kept", async () => {
    const keys = new MemoryKeyStore();
    await keepNewKey(keys);
    const { outbox, store } = outboxOver(keys);
    const unkept = await generateKey();

    const note = { to: "ada@example.com", text: "x", token: TOKEN, key: unkept };
    expect(await codeOf(outbox.enqueue(note as never))).toBe("key_not_stored");
    expect(await store.list()).toEqual([]);
  });

  it("keepKey refuses with key_not_stored when the store does not answer the key it was given", async () => {
    // A store that says yes and keeps nothing, as a write that never reached the disk.
    const forgetful: KeyStore = { list: async () => [], put: async () => undefined };

    expect(await codeOf(keepKey(forgetful, await generateKey()))).toBe("key_not_stored");
    expect(await currentKey(forgetful)).toBeUndefined();
  });

  it("a store that refuses the write rejects keepKey with storage_failed", async () => {
    const full: KeyStore = {
      list: async () => [],
      put: () => Promise.reject(new DOMException("The quota has been exceeded.", "QuotaExceededError")),
    };

    const error = await keepNewKey(full).catch((e) => e);

    expect(error).toMatchObject({ code: "storage_failed" });
    expect(error.message).toContain("QuotaExceededError");
  });

  it("each note records its key's id, and after a new key every note still opens with its own", async () => {
    const keys = new MemoryKeyStore();
    const first = await keepNewKey(keys);
    const { outbox, store } = outboxOver(keys);
    const before = await outbox.enqueue({ to: "ada@example.com", text: "Under the first key.", token: TOKEN });
    const second = await keepNewKey(keys);
    const after = await outbox.enqueue({ to: "ada@example.com", text: "Under the second key.", token: TOKEN });

    const records = await store.list();
    const recordOf = (id: string) => records.find((record) => record.id === id);
    expect(recordOf(before)?.keyId).toBe(first.id);
    expect(recordOf(after)?.keyId).toBe(second.id);
    expect((await outbox.list()).map((note) => note.keyId)).toEqual([first.id, second.id]);
    for (const [id, text] of [
      [before, "Under the first key."],
      [after, "Under the second key."],
    ] as const) {
      const kept = await findKey(keys, recordOf(id)?.keyId ?? "");
      expect(await decrypt(emailTextOf(recordOf(id)), kept?.key as CryptoKey)).toBe(text);
    }
  });
});

describe("IndexedDbKeyStore", () => {
  it("keeps a non-extractable key that a store opened again answers, and it opens the notes written under it", async () => {
    const name = `keys-${databases++}`;
    const kept = await keepNewKey(new IndexedDbKeyStore(name));
    expect(kept.key.extractable).toBe(false);
    const { outbox, store } = outboxOver(new IndexedDbKeyStore(name));
    const id = await outbox.enqueue({ to: "ada@example.com", text: "Read after a restart.", token: TOKEN });

    const reopened = await currentKey(new IndexedDbKeyStore(name));

    expect(reopened).toMatchObject({ id: kept.id, createdAt: kept.createdAt });
    expect(reopened?.key.extractable).toBe(false);
    const [record] = await store.list();
    expect(record?.id).toBe(id);
    expect(await decrypt(emailTextOf(record), reopened?.key as CryptoKey)).toBe("Read after a restart.");
  });

  it("writes each key in a transaction with strict durability", async () => {
    const transaction = vi.spyOn(IDBDatabase.prototype, "transaction");

    await keepNewKey(new IndexedDbKeyStore(`keys-${databases++}`));

    const writes = transaction.mock.calls.filter(([, mode]) => mode === "readwrite");
    expect(writes).toEqual([["keys", "readwrite", { durability: "strict" }]]);
  });
});

describe("AsyncStorageKeyStore", () => {
  function mapAsyncStorage(): AsyncKeyValueStorage & { items: Map<string, string> } {
    const items = new Map<string, string>();
    return {
      items,
      getItem: async (key) => items.get(key) ?? null,
      setItem: async (key, value) => void items.set(key, value),
      removeItem: async (key) => void items.delete(key),
      getAllKeys: async () => [...items.keys()],
    };
  }

  it("keeps an extractable key as its JWK under <name>:key:<id>, and a new store answers the same key", async () => {
    const storage = mapAsyncStorage();
    const kept = await keepNewKey(new AsyncStorageKeyStore(storage), { extractable: true });

    expect([...storage.items.keys()]).toEqual([`notepipe-keys:key:${kept.id}`]);
    const again = await currentKey(new AsyncStorageKeyStore(storage));
    expect(again?.id).toBe(kept.id);
    const raw = async (key: CryptoKey | undefined) =>
      Buffer.from(await crypto.subtle.exportKey("raw", key as CryptoKey)).toString("hex");
    expect(await raw(again?.key)).toBe(await raw(kept.key));
  });

  it("refuses a non-extractable key with bad_key: AsyncStorage holds strings", async () => {
    const storage = mapAsyncStorage();

    expect(await codeOf(keepNewKey(new AsyncStorageKeyStore(storage)))).toBe("bad_key");
    expect(storage.items.size).toBe(0);
  });
});
