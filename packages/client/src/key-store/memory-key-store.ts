/** Keys in memory: for tests, and for an app whose notes may become unreadable when it exits. */

import type { KeptKey, KeyStore } from "./key-store.ts";

export class MemoryKeyStore implements KeyStore {
  readonly #keys = new Map<string, KeptKey>();

  async list(): Promise<KeptKey[]> {
    return [...this.#keys.values()].map((kept) => ({ ...kept }));
  }

  async put(kept: KeptKey): Promise<void> {
    this.#keys.set(kept.id, { ...kept });
  }
}
