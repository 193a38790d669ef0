/**
 * GET /ops/stats: how many notes are in each state, and how many dead letters there are for each
 * reason: what an operator looks at first.
 *
 * Counted from key listings alone: every status record carries its state as KV metadata
 * (`StatusMetadata`) and every dead letter its reason (`DeadLetterMetadata`), and one list call
 * returns 1,000 keys with their metadata. So 100,000 records cost 100 list calls and no value read.
 * A record written without metadata (before deliver wrote it) is read, 100 per bulk get.
 *
 * Bounded by {@link MAX_KV_OPERATIONS} (a Worker invocation may make 1,000 KV operations): past it
 * the answer says `complete: false`. Listings are eventually consistent, like every KV read: a
 * write may take up to 60 s to show.
 */

import {
  DEAD_LETTER_PREFIX,
  type DeadLetterMetadata,
  type NoteState,
  type StatusMetadata,
  type StatusRecord,
} from "@notepipe/pipeline";
import type { Context } from "hono";
import { NO_STORE } from "../http/errors.ts";
import type { OpsEnv } from "./app.ts";

const STATUS_PREFIX = "note:";
const MAX_KV_OPERATIONS = 900;
const BULK_GET_KEYS = 100;

export interface Stats {
  /** Notes with a status record, by state. */
  states: Partial<Record<NoteState, number>>;
  records: number;
  deadLetters: { total: number; byReason: Record<string, number>; possiblySent: number };
  /** False when the count stopped at its KV budget: the numbers are then lower bounds. */
  complete: boolean;
}

export async function getStats(c: Context<OpsEnv>): Promise<Response> {
  return c.json(await countAll(c.env.STATUS), 200, NO_STORE);
}

export async function countAll(kv: KVNamespace): Promise<Stats> {
  const stats: Stats = {
    states: {},
    records: 0,
    deadLetters: { total: 0, byReason: {}, possiblySent: 0 },
    complete: true,
  };
  const budget = { operations: MAX_KV_OPERATIONS };

  // Dead letters first: if the budget runs out, the part an operator acts on is whole.
  for await (const keys of listAll<DeadLetterMetadata>(kv, DEAD_LETTER_PREFIX, budget)) {
    for (const key of keys) {
      const reason = key.metadata?.reason ?? "unknown";
      stats.deadLetters.total++;
      stats.deadLetters.byReason[reason] = (stats.deadLetters.byReason[reason] ?? 0) + 1;
      if (key.metadata?.possiblySent === true) stats.deadLetters.possiblySent++;
    }
  }

  const countState = (state: NoteState) => {
    stats.records++;
    stats.states[state] = (stats.states[state] ?? 0) + 1;
  };
  let unlabelled: string[] = [];
  const readUnlabelled = async () => {
    budget.operations--;
    const values = await kv.get<StatusRecord>(unlabelled, "json");
    for (const record of values.values()) if (record !== null) countState(record.state);
    unlabelled = [];
  };
  for await (const keys of listAll<StatusMetadata>(kv, STATUS_PREFIX, budget)) {
    for (const key of keys) {
      if (key.metadata?.state !== undefined) countState(key.metadata.state);
      else unlabelled.push(key.name);
      if (unlabelled.length === BULK_GET_KEYS && budget.operations > 0) await readUnlabelled();
    }
  }
  if (unlabelled.length > 0 && budget.operations > 0) await readUnlabelled();
  stats.complete = budget.operations >= 0 && unlabelled.length === 0;
  return stats;
}

/** Every key under `prefix`, a list call (1,000 keys) at a time, while the budget lasts. */
async function* listAll<Metadata>(
  kv: KVNamespace,
  prefix: string,
  budget: { operations: number },
): AsyncGenerator<KVNamespaceListKey<Metadata>[]> {
  let cursor: string | undefined;
  do {
    if (budget.operations <= 0) {
      budget.operations = -1; // ran out: the counts are lower bounds
      return;
    }
    budget.operations--;
    const page: KVNamespaceListResult<Metadata> = await kv.list<Metadata>({
      prefix,
      ...(cursor === undefined ? {} : { cursor }),
    });
    yield page.keys;
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
}
