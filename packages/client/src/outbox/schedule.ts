/**
 * When an outbox drains while the app runs: now, whenever the platform says it is back `online`,
 * right after an `enqueue`, and on a timer while a note is queued or in flight. Between failed drains
 * the wait grows exponentially with full jitter, and is never shorter than the server's
 * `Retry-After`.
 */

import { DEFAULT_BASE_DELAY_MS, DEFAULT_MAX_DELAY_MS } from "../request.ts";
import type { DrainResult } from "./drain.ts";
import { isFollowed } from "./records.ts";

export interface DrainListener {
  /** After every drain, with every note's state: render the list from `result.notes`. */
  onDrain?(result: DrainResult): void;
  /** A drain rejected: the storage failed (`storage_failed`). The next try follows the backoff. */
  onError?(error: unknown): void;
  /**
   * The browser refused to persist the storage (asked at the first `enqueue`): it may evict queued
   * notes when space runs short.
   */
  onPersistRefused?(): void;
}

export interface DrainSchedule {
  baseDelayMs?: number;
  maxDelayMs?: number;
  pollIntervalMs: number;
  finalStates: ReadonlySet<string>;
}

/** The loop `outbox.start()` runs; `wake` drains now (or right after the drain under way). */
export function keepDraining(drain: () => Promise<DrainResult>, schedule: DrainSchedule, listener: DrainListener) {
  const { baseDelayMs = DEFAULT_BASE_DELAY_MS, maxDelayMs = DEFAULT_MAX_DELAY_MS, pollIntervalMs } = schedule;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let running = false;
  let again = false;
  let stopped = false;

  const backoff = (retryAfterMs = 0) => {
    failures++;
    return Math.max(retryAfterMs, Math.random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (failures - 1)));
  };

  const nextDrainIn = (result: DrainResult): number | undefined => {
    if (result.error !== undefined) return backoff(result.error.retryAfterMs);
    failures = 0;
    const waiting = result.notes.some((note) => note.state === "queued" || isFollowed(note, schedule.finalStates));
    return waiting ? pollIntervalMs : undefined;
  };

  const wake = async (): Promise<void> => {
    clearTimeout(timer);
    if (running) {
      again = true;
      return;
    }
    running = true;
    let delay: number | undefined;
    try {
      do {
        again = false;
        try {
          const result = await drain();
          delay = nextDrainIn(result);
          listener.onDrain?.(result);
        } catch (error) {
          delay = backoff();
          listener.onError?.(error);
        }
      } while (again && !stopped);
    } finally {
      running = false;
    }
    if (!stopped && delay !== undefined) timer = setTimeout(wake, delay);
  };

  // Browsers and their workers say when the network is back; React Native has no such event here
  // (NetInfo's listener can call outbox.drain()).
  const events = globalThis as {
    addEventListener?: typeof addEventListener;
    removeEventListener?: typeof removeEventListener;
  };
  const wakeNow = () => void wake();
  events.addEventListener?.("online", wakeNow);
  wakeNow();
  return {
    wake: wakeNow,
    stop() {
      stopped = true;
      clearTimeout(timer);
      events.removeEventListener?.("online", wakeNow);
    },
  };
}
