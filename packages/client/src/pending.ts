/**
 * Notes ingest accepted whose fate the app still wants to learn: `send` adds them, `resumeOnOpen`
 * updates and removes them. A store holds ids and states only, never an address or any content.
 */

import type { ClientNoteState } from "./config.ts";

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

/** The part of the Web Storage API the store uses: `localStorage`, `sessionStorage`, or a stand-in. */
export type KeyValueStorage = Pick<Storage, "getItem" | "setItem">;

/**
 * Browsers: one `localStorage` entry holding a JSON object of id → note. Each method reads and
 * writes it synchronously, so two calls never interleave within a page.
 *
 * @example
 * const client = { endpoint: "https://notes.example.com", store: new LocalStoragePendingStore() };
 */
export class LocalStoragePendingStore implements PendingStore {
  readonly #storage: KeyValueStorage;
  readonly #key: string;

  constructor(storage: KeyValueStorage = localStorage, key = "notepipe:pending") {
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
