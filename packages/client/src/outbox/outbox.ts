/**
 * `createOutbox`: a note is encrypted, framed and stored before any network, and sent from storage
 * until ingest takes it, by whichever tab, worker or process drains first. A note written with no
 * signal, or by an app killed mid-POST, is not lost; and because every attempt posts the same
 * frame under the same note id, it is one email.
 */

import { type ClientConfig, DEFAULT_FINAL_STATES } from "../config.ts";
import { NotepipeError } from "../errors.ts";
import { currentKey, type KeyStore } from "../key-store/key-store.ts";
import { type NoteBody, newNoteId, sealNote } from "../seal.ts";
import { type DrainConfig, type DrainResult, drainOutbox } from "./drain.ts";
import { deleteRecords, readRecords, toNote, writeRecord } from "./records.ts";
import { type DrainListener, keepDraining } from "./schedule.ts";
import type { OutboxNote, OutboxRecord, OutboxStore } from "./store.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** A note unsent a week after it was written is news nobody wants any more. */
export const DEFAULT_EXPIRE_AFTER_MS = 7 * DAY_MS;
/** How often `start()` polls the status of notes in flight. */
export const DEFAULT_POLL_INTERVAL_MS = 10_000;

export interface OutboxConfig extends Omit<ClientConfig, "store"> {
  /** Where notes wait: `IndexedDbOutboxStore`, `AsyncStorageOutboxStore`, `MemoryOutboxStore`. */
  store: OutboxStore;
  /**
   * Where the key lives (`IndexedDbKeyStore`, `AsyncStorageKeyStore`): each `enqueue` encrypts
   * under the newest key read from it, so that no note is written under a key a crash can take.
   */
  keys: KeyStore;
  /**
   * For notes enqueued without a token: called at send time with the recipient, e.g. to ask the
   * app's backend. Called again with `refused` when ingest answered a token with 401 (its key was
   * retired, say): the note keeps its frame and is sent with the new token. A throw keeps the note
   * queued for the next drain.
   */
  getToken?: (to: string, context: { refused?: string | undefined }) => string | Promise<string>;
  /** A note still unsent this long after `enqueue` becomes `expired`. Default 7 days. */
  expireAfterMs?: number;
  /** How often `start()` drains while a note is queued or in flight. Default 10 s. */
  pollIntervalMs?: number;
  /** Default `Date.now`. */
  now?: () => number;
}

/**
 * A note for the outbox: like `send`'s without the key, which comes from the outbox's key store;
 * the token may come later from `getToken`.
 */
export type OutboxNoteInput = { to: string; token?: string } & NoteBody;

export interface Outbox {
  /**
   * Encrypts the note under the key store's newest key, frames it, stores it as `queued` with that
   * key's id and returns its id, before any network. Rejects having stored nothing: with
   * `key_not_stored` when the key store holds no key (or a `key` is passed: it must come from the
   * store), `storage_failed` (quota, private mode), or frame v1's code for a note it cannot carry
   * (`bad_recipient`, `frame_too_large`, …).
   */
  enqueue(note: OutboxNoteInput): Promise<string>;
  /** One drain now: send what is queued, then poll what is in flight. Calls during one share it. */
  drain(): Promise<DrainResult>;
  /** Every note, oldest first. */
  list(): Promise<OutboxNote[]>;
  /** Forgets notes, typically final ones the app has shown. */
  remove(ids: readonly string[]): Promise<void>;
  /**
   * Drains now, on `online`, after each `enqueue` and on a timer while anything is queued or in
   * flight, until the returned function is called. For the app's foreground; a service worker or a
   * background task calls `drain()`. The listener's `onPersistRefused` hears the answer to
   * {@link persistStorage}, which the first `enqueue` asks.
   */
  start(listener?: DrainListener): () => void;
  /**
   * Asks the browser, once, to keep this origin's storage through storage pressure
   * (`navigator.storage.persist()`); a browser evicts non-persistent origins' data, queued notes
   * included, when the device runs short of space (https://web.dev/articles/persistent-storage).
   * The first `enqueue` asks, since the time to ask is when the user saves something that matters
   * (Firefox asks the user then, not on page load). True: kept; false: refused (Chromium decides
   * from site engagement), told to every `start()` listener; undefined: no StorageManager (React
   * Native, Node).
   */
  persistStorage(): Promise<boolean | undefined>;
}

async function askToPersist(): Promise<boolean | undefined> {
  const storage = (globalThis as { navigator?: Partial<Navigator> }).navigator?.storage;
  // Where the StorageManager exists, persisted() and persist() reject only outside a document.
  return (
    storage?.persist &&
    storage
      .persisted()
      .then((kept) => kept || storage.persist())
      .catch(() => false)
  );
}

/**
 * @example
 * const keys = new IndexedDbKeyStore();
 * if ((await currentKey(keys)) === undefined) await keepNewKey(keys);
 * const outbox = createOutbox({ endpoint: "https://notes.example.com", store: new IndexedDbOutboxStore(), keys });
 * outbox.start({ onDrain: ({ notes }) => render(notes) });
 * const id = await outbox.enqueue({ to: "ada@example.com", text: "Noon, at the oak.", token });
 */
export function createOutbox(config: OutboxConfig): Outbox {
  const now = config.now ?? Date.now;
  const finalStates = new Set<string>(config.finalStates ?? DEFAULT_FINAL_STATES);
  const drainConfig: DrainConfig = {
    ...config,
    expireAfterMs: config.expireAfterMs ?? DEFAULT_EXPIRE_AFTER_MS,
    finalStates,
    now,
    // Read at every poll: an app that enrols after creating its outbox sets `config.pollAs` then.
    get pollAs() {
      return config.pollAs;
    },
  };
  const schedules = new Set<{ wake(): void }>();
  const listeners = new Set<DrainListener>();
  let running: Promise<DrainResult> | undefined;
  let lastCreatedAt = 0;
  let persisted: Promise<boolean | undefined> | undefined;
  const persistStorage = () => {
    persisted ??= askToPersist().then((kept) => {
      if (kept === false) for (const listener of listeners) listener.onPersistRefused?.();
      return kept;
    });
    return persisted;
  };

  const drain = () => {
    running ??= drainOutbox(drainConfig).finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    async enqueue(note) {
      if (note.token === undefined && config.getToken === undefined) {
        throw new NotepipeError("unauthorized", "Pass the note's token, or give the outbox a getToken.");
      }
      const kept = "key" in note ? undefined : await currentKey(config.keys);
      if (kept === undefined) {
        throw new NotepipeError("key_not_stored", "enqueue takes no key: it uses its key store's newest (keepNewKey).");
      }
      const { id, frame } = await sealNote({ ...note, key: kept.key }, newNoteId());
      // Strictly increasing, so that notes written within one millisecond still go in order.
      lastCreatedAt = Math.max(now(), lastCreatedAt + 1);
      const record: OutboxRecord = {
        id,
        state: "queued",
        createdAt: lastCreatedAt,
        keyId: kept.id,
        frame,
        to: note.to,
      };
      if (note.token !== undefined) record.token = note.token;
      await writeRecord(config.store, record);
      for (const schedule of schedules) schedule.wake();
      void persistStorage();
      return id;
    },

    drain,
    persistStorage,

    async list() {
      return (await readRecords(config.store)).map(toNote);
    },

    remove(ids) {
      return deleteRecords(config.store, ids);
    },

    start(listener = {}) {
      const schedule = keepDraining(
        drain,
        { ...config.retry, pollIntervalMs: config.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, finalStates },
        listener,
      );
      schedules.add(schedule);
      listeners.add(listener);
      return () => {
        schedules.delete(schedule);
        listeners.delete(listener);
        schedule.stop();
      };
    },
  };
}
