/**
 * The ledger's tally of what it is billed for (`usage` in GET /ops/stats) is kept only when the
 * deliver Worker's `LEDGER_METERING` is "on", as the capacity bench sets it (these tests' own
 * config does too); production, with the setting empty, counts nothing.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { DeliveryLedger } from "../src/ledger/ledger.ts";
import { claimOf } from "./ledger.ts";

/** deliver's `env` with `LEDGER_METERING` set; wrangler types the var as its default, the empty string. */
function withMetering(setting: string): Env {
  return { ...env, LEDGER_METERING: setting } as unknown as Env;
}

it("counts every call and row with LEDGER_METERING on, and nothing with it empty", async () => {
  const stub = env.LEDGER.getByName(`metering-${crypto.randomUUID()}`);
  const [metered, unmetered] = await runInDurableObject(stub, (_instance: DeliveryLedger, state) => {
    const on = new DeliveryLedger(state, withMetering("on"));
    const off = new DeliveryLedger(state, withMetering(""));
    on.claim(claimOf("on", [{ id: crypto.randomUUID(), frame: new Uint8Array([1]) }]));
    off.claim(claimOf("off", [{ id: crypto.randomUUID(), frame: new Uint8Array([1]) }]));
    return [on.usage(), off.usage()];
  });

  expect(metered).toMatchObject({ requests: { claim: 1, usage: 1 }, claimedNotes: 1 });
  expect(metered?.rowsWritten).toBeGreaterThan(0);
  expect(unmetered).toEqual({
    since: expect.any(String),
    requests: {},
    rowsRead: 0,
    rowsWritten: 0,
    kvWrites: 0,
    claimedNotes: 0,
  });
});
