/**
 * The one way into the delivery ledger. There is one ledger object for the whole service: a batch
 * costs it a claim and a settle whatever its size, well within what one Durable Object serves (its
 * requests are handled one at a time, each a single SQLite transaction of well under a millisecond).
 */

import type { DeliveryLedger } from "./ledger.ts";

const LEDGER_NAME = "ledger";

export type Ledger = DurableObjectStub<DeliveryLedger>;

export function ledgerOf(env: Env): Ledger {
  return env.LEDGER.getByName(LEDGER_NAME);
}

/**
 * Attempts per call, the first included. The runtime has already retried a `.retryable` failure up
 * to five times before it reaches us (https://developers.cloudflare.com/durable-objects/best-practices/automatic-retries/):
 * two more, a backoff apart, outlast an object that restarts or moves.
 */
const MAX_ATTEMPTS = 3;
/** The first backoff's upper bound; each further one doubles it (full jitter). */
const BACKOFF_BASE_MS = 100;

/**
 * Calls the ledger as Cloudflare's Durable Object error rules say
 * (https://developers.cloudflare.com/durable-objects/best-practices/error-handling/):
 * - `.overloaded`: never again now, for a retry adds load to an object that cannot keep up;
 * - `.retryable`: again after a backoff, on a fresh stub (a stub that threw may be broken), which
 *   every ledger method allows: each is one transaction, done whole or not at all, and safe to repeat;
 * - anything else (thrown by the ledger's own code): not again, the same call would fail the same way.
 * The caller decides what a failure means for its messages or its answer.
 *
 * @example
 * const claim = await callLedger(env, (ledger) => ledger.claim(input));
 */
export async function callLedger<T>(env: Env, call: (ledger: Ledger) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(ledgerOf(env));
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryable(error)) throw error;
      await scheduler.wait(Math.random() * BACKOFF_BASE_MS * 2 ** (attempt - 1));
    }
  }
}

function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const flags = error as { retryable?: unknown; overloaded?: unknown };
  return flags.retryable === true && flags.overloaded !== true;
}
