/**
 * The Cron Trigger: writes to KV the status records it refused earlier (an outage, a spent daily
 * quota), so that a sent note never stays unknown to its client, and prunes the ledger's old rows.
 */

import { callLedger } from "../ledger/client.ts";
import { projectToKv } from "./projection.ts";

/**
 * Per run. KV's Free plan takes 1,000 writes a day: a backlog that large drains in a few runs
 * once KV takes writes again, and a run stays far below the 1,000 KV operations an invocation may make.
 */
export const REPAIR_BATCH = 200;
/** A record written this recently may still be on its way from the consumer that wrote it. */
const QUIET_MS = 60_000;
const WHO = "deliver (repair)";

export async function repairStatuses(env: Env): Promise<{ behind: number; written: number; pruned: number }> {
  const behind = await callLedger(env, (ledger) => ledger.behind(REPAIR_BATCH, QUIET_MS));
  const written = await projectToKv(env, behind, WHO);
  const pruned = await callLedger(env, (ledger) => ledger.prune());
  if (behind.length > 0) console.log(`${WHO}: ${written} of ${behind.length} status record(s) written`);
  return { behind: behind.length, written, pruned };
}
