/**
 * Resend's `Idempotency-Key` (https://resend.com/docs/dashboard/emails/idempotency-keys): 1–256
 * characters, remembered for 24 hours per API key. The same key with the same request replays the
 * first answer without sending again; with another request it is `invalid_idempotent_request`;
 * while the first request is still being processed it is `concurrent_idempotent_requests`.
 *
 * Only answers that created emails (2xx) are remembered: a request refused before or during
 * validation sent nothing, so its key stays free and a retry is processed afresh.
 */

import { RESEND_LIMITS } from "./resend-contract.ts";

export const IDEMPOTENCY_TTL_MS = RESEND_LIMITS.idempotencyWindowMs;
export const MAX_IDEMPOTENCY_KEY_CHARS = RESEND_LIMITS.idempotencyKeyChars;

export interface StoredResponse {
  status: number;
  body: string;
  contentType: string;
}

export type Claim =
  /** First use: process the request, then call `settle` once, with the answer to keep or `null`. */
  | { kind: "new"; settle: (response: StoredResponse | null) => void }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "different_request" }
  | { kind: "in_flight" };

interface Entry {
  fingerprint: string;
  expiresAt: number;
  response: StoredResponse | null;
}

export class IdempotencyStore {
  readonly #now: () => number;
  /** Insertion order is expiry order (one TTL for all), so pruning stops at the first live entry. */
  readonly #entries = new Map<string, Entry>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * @param scope the API key: keys of different accounts never collide.
   * @param fingerprint what makes two requests "the same" (method, path, mode, body).
   */
  claim(scope: string, key: string, fingerprint: string): Claim {
    const now = this.#now();
    this.#prune(now);
    const id = `${scope}\u0000${key}`;
    const existing = this.#entries.get(id);
    if (existing !== undefined) {
      if (existing.fingerprint !== fingerprint) return { kind: "different_request" };
      if (existing.response === null) return { kind: "in_flight" };
      return { kind: "replay", response: existing.response };
    }
    const entry: Entry = { fingerprint, expiresAt: now + IDEMPOTENCY_TTL_MS, response: null };
    this.#entries.set(id, entry);
    let settled = false;
    return {
      kind: "new",
      settle: (response) => {
        if (settled) return;
        settled = true;
        if (response === null) this.#entries.delete(id);
        else entry.response = response;
      },
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  #prune(now: number): void {
    for (const [id, entry] of this.#entries) {
      if (entry.expiresAt > now) return;
      this.#entries.delete(id);
    }
  }
}

/** A SHA-256 over what identifies a request, so a 100-email body is not kept twice. */
export async function fingerprintRequest(parts: readonly string[]): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("\n"))));
  return btoa(String.fromCharCode(...digest));
}
