/**
 * GET /ops/stats: how many notes are in each state, how many dead letters there are for each
 * reason, and how far KV lags behind the ledger: what an operator looks at first. Exact, from the
 * ledger's own counts; nothing is listed from KV.
 */

import type { OpsStats } from "@notepipe/pipeline";
import type { Context } from "hono";
import { NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";
import { readStats } from "./dead-letters.ts";

export async function getStats(c: Context<OpsEnv>): Promise<Response> {
  const stats: OpsStats = { ...(await readStats(c.env)), complete: true };
  return c.json(stats, 200, NO_STORE);
}
