/**
 * Everything deliver keeps in the `STATUS` KV namespace: status records (`note:<uuid>`), dead
 * letters (`dead:<id>`) and released request keys (`idem:<key>`). Every write has a TTL.
 */

import {
  DEAD_LETTER_TTL_SECONDS,
  type DeadLetter,
  type DeadLetterMetadata,
  deadLetterKey,
  STATUS_TTL_SECONDS,
  type StatusMetadata,
  type StatusRecord,
  statusKey,
} from "@notepipe/pipeline";

/** Workers KV reads at most 100 keys in one bulk get. */
const BULK_GET_KEYS = 100;

/**
 * How long the provider keeps an Idempotency-Key (Resend: 24 hours). A released key is of no use
 * after that, and KV drops the marker.
 */
export const PROVIDER_KEY_WINDOW_SECONDS = 24 * 60 * 60;

const RELEASE_PREFIX = "idem:";

/** Status records of `ids` (note UUIDs): one KV operation per 100 ids. Throws if KV does. */
export async function readRecords(kv: KVNamespace, ids: readonly string[]): Promise<Map<string, StatusRecord>> {
  const records = new Map<string, StatusRecord>();
  for (let start = 0; start < ids.length; start += BULK_GET_KEYS) {
    const chunk = ids.slice(start, start + BULK_GET_KEYS);
    const values = await kv.get<StatusRecord>(chunk.map(statusKey), "json");
    for (const id of chunk) {
      const record = values.get(statusKey(id));
      if (record !== null && record !== undefined) records.set(id, record);
    }
  }
  return records;
}

/** Which of `keys` (Idempotency-Keys) were released: see {@link putKeyRelease}. */
export async function readKeyReleases(kv: KVNamespace, keys: readonly string[]): Promise<Set<string>> {
  const released = new Set<string>();
  for (let start = 0; start < keys.length; start += BULK_GET_KEYS) {
    const chunk = keys.slice(start, start + BULK_GET_KEYS);
    const values = await kv.get(
      chunk.map((key) => RELEASE_PREFIX + key),
      "text",
    );
    for (const key of chunk) if (values.get(RELEASE_PREFIX + key) != null) released.add(key);
  }
  return released;
}

/**
 * Writes a status record, its state repeated as KV metadata (see `StatusMetadata`), with the id of
 * the webhook event that caused the write if one did. Answers false if it could not (already logged).
 */
export function putRecord(kv: KVNamespace, record: StatusRecord, event?: string): Promise<boolean> {
  const metadata: StatusMetadata = event === undefined ? { state: record.state } : { state: record.state, event };
  return put(kv, statusKey(record.id), JSON.stringify(record), { expirationTtl: STATUS_TTL_SECONDS, metadata });
}

/** Writes a dead letter, with what a listing filters on as its metadata. */
export function putDeadLetter(kv: KVNamespace, letter: DeadLetter): Promise<boolean> {
  const metadata: DeadLetterMetadata = {
    reason: letter.reason,
    attempts: letter.attempts,
    firstFailureAt: letter.firstFailureAt,
    lastFailureAt: letter.lastFailureAt,
    possiblySent: letter.possiblySent,
  };
  return put(kv, deadLetterKey(letter.id), JSON.stringify(letter), {
    expirationTtl: DEAD_LETTER_TTL_SECONDS,
    metadata,
  });
}

/**
 * Marks an Idempotency-Key as released: a send under it of only some of the notes it first
 * carried was accepted, so the provider had never taken the first request, and the notes it no
 * longer fits go out under a fresh key (README, "Never twice").
 */
export function putKeyRelease(kv: KVNamespace, key: string, at: number): Promise<boolean> {
  return put(kv, RELEASE_PREFIX + key, new Date(at).toISOString(), { expirationTtl: PROVIDER_KEY_WINDOW_SECONDS });
}

async function put(kv: KVNamespace, key: string, value: string, options: KVNamespacePutOptions): Promise<boolean> {
  try {
    await kv.put(key, value, options);
    return true;
  } catch {
    // KV takes one write per second per key (https://developers.cloudflare.com/kv/platform/limits/).
    // Deliver never writes a key twice within a second itself, but ops and webhooks write the
    // same records: a write that lost that race succeeds a second later.
    await scheduler.wait(1000);
    try {
      await kv.put(key, value, options);
      return true;
    } catch (error) {
      // The key holds a note id at most; never an address.
      console.error(`deliver: KV write to ${key} failed twice: ${error instanceof Error ? error.message : error}`);
      return false;
    }
  }
}
