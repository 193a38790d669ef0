/**
 * React Native: keys in AsyncStorage (`@react-native-async-storage/async-storage`), which holds
 * strings and so cannot hold a CryptoKey: each key is kept as its JWK, one entry per key, and only an
 * extractable key can be kept. What the platform guarantees: `setItem` resolves once the native side
 * has written the value (v3: a SQLite transaction through Room on Android and iOS,
 * https://react-native-async-storage.github.io/3.0; v2: SQLite on Android, files on iOS), so a kept
 * key survives the app being killed; nothing is said of a power loss, and the JWK lies unencrypted
 * in the app's sandbox, gone with an uninstall. The platform keychain (expo-secure-store) is
 * encrypted and, on iOS, survives a reinstall: it fits the same `KeyStore` interface.
 */

import { NotepipeError } from "../errors.ts";
import { importKeyJwk } from "../keys.ts";
import type { AsyncKeyValueStorage } from "../outbox/async-storage-store.ts";
import type { KeptKey, KeyStore } from "./key-store.ts";

interface StoredKey {
  id: string;
  createdAt: number;
  jwk: JsonWebKey;
}

/**
 * @example
 * import AsyncStorage from "@react-native-async-storage/async-storage";
 * const keys = new AsyncStorageKeyStore(AsyncStorage);
 * const kept = (await currentKey(keys)) ?? (await keepNewKey(keys, { extractable: true }));
 */
export class AsyncStorageKeyStore implements KeyStore {
  readonly #storage: AsyncKeyValueStorage;
  readonly #prefix: string;

  /** Keys are `<name>:key:<id>`. */
  constructor(storage: AsyncKeyValueStorage, name = "notepipe-keys") {
    this.#storage = storage;
    this.#prefix = `${name}:key:`;
  }

  async list(): Promise<KeptKey[]> {
    const names = (await this.#storage.getAllKeys()).filter((name) => name.startsWith(this.#prefix));
    const values = await Promise.all(names.map((name) => this.#storage.getItem(name)));
    const kept: KeptKey[] = [];
    for (const json of values) {
      if (json === null) continue;
      const { id, createdAt, jwk } = JSON.parse(json) as StoredKey;
      kept.push({ id, createdAt, key: await importKeyJwk(jwk) });
    }
    return kept;
  }

  async put({ id, key, createdAt }: KeptKey): Promise<void> {
    if (!key.extractable) {
      throw new NotepipeError(
        "bad_key",
        "AsyncStorage holds strings: keep an extractable key ({ extractable: true }).",
      );
    }
    const jwk = await crypto.subtle.exportKey("jwk", key);
    await this.#storage.setItem(this.#prefix + id, JSON.stringify({ id, createdAt, jwk } satisfies StoredKey));
  }
}
