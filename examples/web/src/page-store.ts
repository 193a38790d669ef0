/**
 * What the page remembers beside the outbox and the key: each enrolled address's client token, and
 * what it knows of each note (its recipient, whether it was written offline). In IndexedDB, one
 * entry per token and per note, each write one transaction with strict durability (the SDK's
 * `createDurableStore`): a write that resolved is on disk. localStorage is not: Chromium commits
 * it on a timer, and a crash seconds after enrolling lost the token and the note list.
 */

import { createDurableStore } from "@notepipe/client";

export interface WrittenNote {
  to: string;
  offline: boolean;
}

const items = createDurableStore("notepipe-demo-page", "items");

function result<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function readAll<T>(prefix: string): Promise<Record<string, T>> {
  return items("readonly", async (store) => {
    const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
    const [keys, values] = await Promise.all([result(store.getAllKeys(range)), result(store.getAll(range))]);
    return Object.fromEntries(keys.map((key, i) => [String(key).slice(prefix.length), values[i] as T]));
  });
}

/** Resolves once the transaction is complete: with strict durability, once the write is on disk. */
function write(key: string, value: unknown): Promise<void> {
  return items("readwrite", (store) => {
    store.put(value, key);
    const { transaction } = store;
    return new Promise<void>((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onabort = () => reject(transaction.error);
    });
  });
}

/** Enrolled address → its client token. */
export const readTokens = () => readAll<string>("token:");
export const keepToken = (address: string, token: string) => write(`token:${address}`, token);

/** Note id → what the page knows of it. */
export const readWrittenNotes = () => readAll<WrittenNote>("note:");
export const rememberNote = (id: string, note: WrittenNote) => write(`note:${id}`, note);
