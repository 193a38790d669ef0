/**
 * After the ledger moved some notes: their records to KV for the client's polls, then the ledger
 * told which versions KV took. What KV refused stays behind in the ledger for the Cron repair.
 * The consumers, the webhooks, ops and the repair all project through {@link projectToKv}.
 */

import { callLedger } from "../ledger/client.ts";
import type { BehindRecord, ClaimDecision } from "../ledger/types.ts";
import { putStatuses } from "./records.ts";

/**
 * Never throws; answers how many records KV took. `who` names the caller in the one line logged
 * when KV refused writes; `event` is the id of the provider's event that moved the notes, if one did.
 *
 * @example
 * await projectToKv(env, await callLedger(env, (ledger) => ledger.finishReplay(ids, token)), "deliver (ops)");
 */
export async function projectToKv(
  env: Env,
  records: readonly BehindRecord[],
  who: string,
  event?: string,
): Promise<number> {
  if (records.length === 0) return 0;
  const written = await putStatuses(
    env.STATUS,
    records.map((item) => item.record),
    who,
    event,
  );
  const synced = records.filter((item) => written.has(item.record.id));
  if (synced.length === 0) return 0;
  // A sync that went unrecorded only costs the repair one more write of the same record.
  const entries = synced.map((item) => ({ id: item.record.id, version: item.version }));
  await callLedger(env, (ledger) => ledger.synced(entries)).catch(() => undefined);
  return synced.length;
}

/** The records of settled notes that KV may not hold yet: what a consumer projects for them. */
export function recordsBehind(decisions: Record<string, ClaimDecision>): BehindRecord[] {
  return Object.values(decisions).flatMap((decision) =>
    decision.kind === "settled" && decision.behind && decision.record !== null
      ? [{ record: decision.record, version: decision.version }]
      : [],
  );
}
