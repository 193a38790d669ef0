/**
 * Walking the dead-letter store (`dead:<id>` keys in the `STATUS` namespace) a page at a time,
 * filtered by reason and time on each key's metadata (`DeadLetterMetadata`), so that filtering
 * reads no value. Used by the listing and by the filtered replay.
 */

import {
  DEAD_LETTER_PREFIX,
  type DeadLetter,
  type DeadLetterMetadata,
  type DeliveryErrorCode,
  deadLetterKey,
} from "@notepipe/pipeline";

export interface DeadLetterFilter {
  reason?: DeliveryErrorCode | undefined;
  /** ms since the epoch: only entries whose last failure is at or after it. */
  since?: number | undefined;
}

export interface DeadLetterPage {
  /** Ids of the matching entries, in key order. */
  ids: string[];
  /** Where the next page starts; null when the store has no more keys. */
  cursor: string | null;
}

/**
 * A page whose keys all fail the filter is skipped rather than answered empty, up to this many
 * list calls per request (each is one of the 1,000 KV operations a Worker invocation may make).
 */
const MAX_LIST_CALLS = 10;

export function matches(metadata: DeadLetterMetadata | null | undefined, filter: DeadLetterFilter): boolean {
  if (filter.reason !== undefined && metadata?.reason !== filter.reason) return false;
  if (filter.since !== undefined && !(Date.parse(metadata?.lastFailureAt ?? "") >= filter.since)) return false;
  return true;
}

/**
 * Lists up to `limit` keys from `cursor` and keeps those that match. A page never holds more than
 * `limit` ids, so a caller can bound its work per request; it may hold fewer (even none, with a
 * cursor) when a filter leaves keys out.
 *
 * @example
 * const page = await deadLetterPage(env.STATUS, { limit: 100, cursor: null, filter: { reason: "rejected" } });
 */
export async function deadLetterPage(
  kv: KVNamespace,
  options: { limit: number; cursor: string | null; filter: DeadLetterFilter },
): Promise<DeadLetterPage> {
  let cursor = options.cursor;
  for (let calls = 0; calls < MAX_LIST_CALLS; calls++) {
    const listed = await kv.list<DeadLetterMetadata>({
      prefix: DEAD_LETTER_PREFIX,
      limit: options.limit,
      ...(cursor === null ? {} : { cursor }),
    });
    cursor = listed.list_complete ? null : listed.cursor;
    const ids = listed.keys
      .filter((key) => matches(key.metadata, options.filter))
      .map((key) => key.name.slice(DEAD_LETTER_PREFIX.length));
    if (ids.length > 0 || cursor === null) return { ids, cursor };
  }
  return { ids: [], cursor };
}

/** Workers KV reads at most 100 keys in one bulk get. */
const BULK_GET_KEYS = 100;

/** The entries of `ids` that still exist (one was replayed or discarded meanwhile: left out). */
export async function readDeadLetters(kv: KVNamespace, ids: readonly string[]): Promise<Map<string, DeadLetter>> {
  const letters = new Map<string, DeadLetter>();
  for (let start = 0; start < ids.length; start += BULK_GET_KEYS) {
    const chunk = ids.slice(start, start + BULK_GET_KEYS);
    const values = await kv.get<DeadLetter>(chunk.map(deadLetterKey), "json");
    for (const id of chunk) {
      const letter = values.get(deadLetterKey(id));
      if (letter !== null && letter !== undefined) letters.set(id, letter);
    }
  }
  return letters;
}
