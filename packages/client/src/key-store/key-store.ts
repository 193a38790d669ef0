/**
 * The one owner of the encryption key a device writes notes under: a note is never encrypted under
 * a key that a crash can take away. A key is kept (written to a {@link KeyStore}, which resolves
 * only once the write is durable) and read back from the store before anything is encrypted under
 * it; the outbox takes its key from the store on every `enqueue` and records the key's id in the
 * note. The id is drawn with the key, since a non-extractable key cannot be hashed.
 */

import { noteIdToUuid } from "@notepipe/frame";
import { NotepipeError, storageCall } from "../errors.ts";
import { generateKey, type KeyOptions } from "../keys.ts";
import { newNoteId } from "../seal.ts";

/** A key as its store holds it. */
export interface KeptKey {
  /** A random id drawn when the key was kept (a lowercase UUID); each note records it as `keyId`. */
  id: string;
  key: CryptoKey;
  /** When it was kept, in ms since the epoch: new notes are encrypted under the newest. */
  createdAt: number;
}

/**
 * Storage for keys: `IndexedDbKeyStore`, `AsyncStorageKeyStore`, `MemoryKeyStore`, or your own.
 * Every method may reject; `put` resolves only once the key is on disk (or as close to it as the
 * platform lets an app know).
 */
export interface KeyStore {
  list(): Promise<KeptKey[]>;
  put(kept: KeptKey): Promise<void>;
}

/**
 * Writes `key` to the store and answers it as read back from there: the key to encrypt under, since
 * it is the one that survives a crash. Rejects with `key_not_stored` if the store does not answer it.
 *
 * @example
 * const { key } = await keepKey(keys, (await deriveKeyFromPassphrase(passphrase, params)).key);
 */
export async function keepKey(store: KeyStore, key: CryptoKey): Promise<KeptKey> {
  const id = noteIdToUuid(newNoteId());
  await storageCall(() => store.put({ id, key, createdAt: Date.now() }));
  const kept = await findKey(store, id);
  if (kept === undefined) throw new NotepipeError("key_not_stored", "The key store did not keep the key.");
  return kept;
}

/**
 * A new random AES-256-GCM key, kept. Not extractable by default (no script can read it out of
 * the browser); `{ extractable: true }` where the app will export it (`exportKeyJwk`) for a backup
 * or a second device, and for stores that hold strings (AsyncStorage).
 *
 * @example
 * const kept = (await currentKey(keys)) ?? (await keepNewKey(keys));
 */
export async function keepNewKey(store: KeyStore, options: KeyOptions = {}): Promise<KeptKey> {
  return keepKey(store, await generateKey({ extractable: options.extractable ?? false }));
}

/** The newest kept key, read from the store: the one new notes are encrypted under. */
export async function currentKey(store: KeyStore): Promise<KeptKey | undefined> {
  return (await storageCall(() => store.list())).sort((a, b) => b.createdAt - a.createdAt)[0];
}

/** The kept key a note was encrypted under (`note.keyId`), to decrypt its email. */
export async function findKey(store: KeyStore, id: string): Promise<KeptKey | undefined> {
  return (await storageCall(() => store.list())).find((kept) => kept.id === id);
}
