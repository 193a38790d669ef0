/**
 * One drainer at a time per outbox, across tabs, service workers and processes: the Web Locks API
 * where the platform has it (browsers, their workers), else a lease in the outbox's own store
 * (React Native, Node). It spares requests and keeps notes in order; it is not what makes a note one
 * email: two drainers posting the same frame still make one, since its note id is the
 * idempotency key.
 */

import { noteIdToUuid } from "@notepipe/frame";
import { newNoteId } from "../seal.ts";
import { updateLease } from "./records.ts";
import type { Lease, OutboxStore } from "./store.ts";

/**
 * How long a lease holds without renewal. A drainer renews it before each note, and one note takes
 * at most one POST (`timeoutMs`, default 15 s) and two store writes; a drainer that was killed
 * blocks the others this long at most.
 */
export const LEASE_MS = 60_000;

/**
 * Renews the lease; false when it was lost (this drainer stalled past {@link LEASE_MS} and another
 * took over), and the drain should stop.
 */
export type Renew = () => Promise<boolean>;

/**
 * Runs `drain` if no other drainer holds the outbox, and answers whether it ran. With Web Locks the
 * browser releases the lock when the tab or worker goes away; a lease lapses by itself.
 */
export async function whileHoldingOutbox(
  store: OutboxStore,
  now: () => number,
  drain: (renew: Renew) => Promise<void>,
): Promise<boolean> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (locks !== undefined) {
    return locks.request(`notepipe-outbox:${store.name}`, { ifAvailable: true }, async (lock) => {
      if (lock === null) return false;
      await drain(async () => true);
      return true;
    });
  }

  // getRandomValues rather than randomUUID: React Native's WebCrypto polyfills may lack the latter.
  const owner = noteIdToUuid(newNoteId());
  const mine = (lease: Lease | undefined) => lease?.owner === owner;
  const claim: Renew = async () =>
    mine(
      await updateLease(store, (lease) =>
        lease === undefined || mine(lease) || lease.until <= now() ? { owner, until: now() + LEASE_MS } : lease,
      ),
    );
  if (!(await claim())) return false;
  try {
    await drain(claim);
  } finally {
    // A release that fails (the storage went away) is no loss: the lease lapses by itself.
    await updateLease(store, (lease) => (mine(lease) ? undefined : lease)).catch(() => undefined);
  }
  return true;
}
