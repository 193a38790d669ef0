/**
 * GET /ops/overview: the ops console's overview as JSON (ledger/overview-types.ts), for scripts
 * and the CLI: series, latency, provider answers, backlog, dead letters, today's quotas and the
 * alerts firing. One ledger call; the console's page draws the same call.
 */

import type { Context } from "hono";
import { NO_STORE } from "../http/errors.ts";
import { callLedger } from "../ledger/client.ts";
import type { Overview } from "../ledger/overview-types.ts";
import type { OpsEnv } from "./app.ts";
import { LedgerUnavailableError } from "./dead-letters.ts";

export async function getOverview(c: Context<OpsEnv>): Promise<Response> {
  let overview: Overview;
  try {
    overview = await callLedger(c.env, (ledger) => ledger.overview());
  } catch (error) {
    throw new LedgerUnavailableError(error);
  }
  return c.json(overview, 200, NO_STORE);
}
