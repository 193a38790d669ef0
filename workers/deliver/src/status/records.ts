/**
 * The `STATUS` KV namespace: one `note:<uuid>` record per note, what the client's polls read
 * through ingest. It is a projection of the delivery ledger (src/ledger), never an input to a
 * decision: a write KV refuses is not retried here but left to the ledger's repair (repair.ts).
 */

import { STATUS_TTL_SECONDS, type StatusMetadata, type StatusRecord, statusKey } from "@notepipe/pipeline";

/**
 * KV takes one write per second per key (https://developers.cloudflare.com/kv/platform/limits/):
 * a write that lost that race to another writer (a webhook, ops) succeeds a second later.
 */
export const KV_WRITE_INTERVAL_MS = 1000;

/**
 * Writes a status record, its state repeated as KV metadata, with the id of the webhook event
 * that caused it if one did. Never throws: answers whether KV took it.
 */
export async function putStatus(kv: KVNamespace, record: StatusRecord, event?: string): Promise<boolean> {
  const metadata: StatusMetadata = event === undefined ? { state: record.state } : { state: record.state, event };
  const options = { expirationTtl: STATUS_TTL_SECONDS, metadata };
  const value = JSON.stringify(record);
  try {
    await kv.put(statusKey(record.id), value, options);
    return true;
  } catch {
    await scheduler.wait(KV_WRITE_INTERVAL_MS);
    try {
      await kv.put(statusKey(record.id), value, options);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Writes many records at once and answers the ids KV took. One loud line when KV refused some: an
 * outage or a spent daily quota (Free plan: 1,000 writes) looks like this, and the ledger's repair
 * writes them once KV takes writes again. The error itself is not logged: it may quote a key.
 */
export async function putStatuses(
  kv: KVNamespace,
  records: readonly StatusRecord[],
  who: string,
  event?: string,
): Promise<Set<string>> {
  const results = await Promise.all(records.map((record) => putStatus(kv, record, event)));
  const written = new Set<string>();
  records.forEach((record, i) => {
    if (results[i]) written.add(record.id);
  });
  const refused = records.length - written.size;
  if (refused > 0) {
    console.error(
      `${who}: KV STATUS refused ${refused} of ${records.length} status write(s) (an outage or a spent daily quota); the ledger keeps them and the repair writes them later.`,
    );
  }
  return written;
}
