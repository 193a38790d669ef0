/**
 * Notes ingest accepted whose fate the app still wants to learn: `send` adds them, `resumeOnOpen`
 * updates and removes them. A store holds ids and states only, never an address or any content.
 */

import { delMany, setMany, type UseStore, values } from "idb-keyval";
import type { ClientNoteState } from "./config.ts";
import { createDurableStore } from "./indexeddb.ts";

export interface PendingNote {
  /** The note id, a lowercase UUID. */
  id: string;
  state: ClientNoteState;
  /** When ingest answered 202, in ms since the epoch. */
  acceptedAt: number;
  /** From the last status poll: send attempts so far, ISO time of the status, why it failed. */
  attempts?: number;
  updatedAt?: string;
  error?: string;
}

/**
 * Storage for pending notes. Methods may be sync or async, so that React Native's AsyncStorage fits
 * (README.md, "AsyncStorage"). `put` adds or replaces notes by id; `remove` ignores unknown ids.
 * Each call is one read-modify-write of the store's own, so a `send` that lands during a
 * `resumeOnOpen` is not lost.
 */
export interface PendingStore {
  list(): PendingNote[] | Promise<PendingNote[]>;
  put(notes: readonly PendingNote[]): void | Promise<void>;
  remove(ids: readonly string[]): void | Promise<void>;
}

/** For tests, and for apps that poll only while they run. */
export class MemoryPendingStore implements PendingStore {
  readonly #notes = new Map<string, PendingNote>();

  list(): PendingNote[] {
    return [...this.#notes.values()];
  }

  put(notes: readonly PendingNote[]): void {
    for (const note of notes) this.#notes.set(note.id, { ...note });
  }

  remove(ids: readonly string[]): void {
    for (const id of ids) this.#notes.delete(id);
  }
}

/**
 * Browsers: one IndexedDB entry per note, each call one transaction with strict durability
 * (indexeddb.ts): a note `send` recorded is on disk when `send` returns, through a crash.
 *
 * @example
 * const client = { endpoint: "https://notes.example.com", store: new IndexedDbPendingStore() };
 */
export class IndexedDbPendingStore implements PendingStore {
  readonly #db: UseStore;

  /** `name` is the IndexedDB database's; it is opened on first use. */
  constructor(name = "notepipe-pending") {
    this.#db = createDurableStore(name, "notes");
  }

  list(): Promise<PendingNote[]> {
    return values<PendingNote>(this.#db);
  }

  put(notes: readonly PendingNote[]): Promise<void> {
    return setMany(
      notes.map((note) => [note.id, note]),
      this.#db,
    );
  }

  remove(ids: readonly string[]): Promise<void> {
    return delMany([...ids], this.#db);
  }
}

/** The part of the Web Storage API the store uses: `localStorage`, `sessionStorage`, or a stand-in. */
export type KeyValueStorage = Pick<Storage, "getItem" | "setItem">;

/**
 * One Web Storage entry holding a JSON object of id → note, for an app that chooses it knowingly:
 * Chromium keeps `localStorage` writes in memory and commits them to disk on a timer (seconds:
 * https://source.chromium.org/chromium/chromium/src/+/main:components/services/storage/dom_storage/storage_area_impl.cc),
 * so a crash soon after `send` can forget the note (its email still goes; only the app's follow-up is lost). Each
 * method reads and writes synchronously, so two calls never interleave within a page.
 *
 * @example
 * const client = { endpoint: "https://notes.example.com", store: new LocalStoragePendingStore(localStorage) };
 */
export class LocalStoragePendingStore implements PendingStore {
  readonly #storage: KeyValueStorage;
  readonly #key: string;

  constructor(storage: KeyValueStorage, key = "notepipe:pending") {
    this.#storage = storage;
    this.#key = key;
  }

  #read(): Record<string, PendingNote> {
    const json = this.#storage.getItem(this.#key);
    if (json === null) return {};
    try {
      return JSON.parse(json) as Record<string, PendingNote>;
    } catch {
      // Someone else's value under our key: starting over loses only polling, never a note.
      return {};
    }
  }

  list(): PendingNote[] {
    return Object.values(this.#read());
  }

  put(notes: readonly PendingNote[]): void {
    const all = this.#read();
    for (const note of notes) all[note.id] = note;
    this.#storage.setItem(this.#key, JSON.stringify(all));
  }

  remove(ids: readonly string[]): void {
    const all = this.#read();
    for (const id of ids) delete all[id];
    this.#storage.setItem(this.#key, JSON.stringify(all));
  }
}
