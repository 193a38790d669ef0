/**
 * The one way into the delivery ledger. There is one ledger object for the whole service: every
 * batch makes two calls to it whatever its size, well within what one Durable Object serves (its
 * requests are handled one at a time, each a single SQLite transaction of well under a millisecond).
 */

import type { DeliveryLedger } from "./ledger.ts";

const LEDGER_NAME = "ledger";

export type Ledger = DurableObjectStub<DeliveryLedger>;

export function ledgerOf(env: Env): Ledger {
  return env.LEDGER.getByName(LEDGER_NAME);
}

/**
 * Calls the ledger, once more if the first call fails: a Durable Object that was just moved or
 * reset answers the next call. Every ledger method is one transaction, so a call that failed
 * either did all of its work or none, and the ledger's methods are safe to repeat.
 */
export async function callLedger<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch {
    return await call();
  }
}
