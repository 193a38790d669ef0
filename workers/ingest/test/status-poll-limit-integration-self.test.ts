/**
 * The status routes' rate limit (src/status-poll-limit.ts): a poll spends one of its client's
 * allowance per distinct id it reads (a 100-id poll 100, a GET 1), its client being its verified
 * token else its address, and every poll also spends its address's ceiling; a poll asked while
 * some allowance is left goes through and spends all its ids, so a window reads at most limit − 1 +
 * 100 ids (the figure workers/ingest/README.md's read budget rests on); tokens that do not verify
 * buy nothing, 127.0.0.1 counts like anyone, and a refused poll gets a 429 whose Retry-After the
 * SDK waits out. The limits are the deployed ones (test/config.ts, checked against wrangler.ingest.toml).
 */

import { reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { MemoryPendingStore, resumeOnOpen } from "@notepipe/client";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BASE, tokenFor } from "./client.ts";
import { TEST_STATUS_ADDRESS_LIMIT, TEST_STATUS_LIMIT } from "./config.ts";

/**
 * The limiters count in 60 s windows aligned to the clock (Miniflare's stand-in: epoch = now / 60 s):
 * a test that fills a window and expects the next poll refused must not straddle two. Each takes
 * well under a second; one that would start in a window's last 5 s starts in the next one instead.
 */
const WINDOW_MS = 60_000;
beforeEach(async () => {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < 5_000) await scheduler.wait(left + 100);
});
afterEach(() => reset());

const ID = "3b241101-e2bb-4255-8caf-4136c566a962";

function getStatus(headers: Record<string, string>, id = ID) {
  return exports.default.fetch(`${BASE}/v1/notes/${id}`, { headers });
}

function postStatus(headers: Record<string, string>, ids: string[]) {
  return exports.default.fetch(`${BASE}/v1/notes/status`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ ids }),
  });
}

function newIds(n: number): string[] {
  return Array.from({ length: n }, () => crypto.randomUUID());
}

/** Polls of these sizes in a row, from `headers`; the statuses they got. */
async function polls(headers: Record<string, string>, sizes: number[]): Promise<number[]> {
  const statuses: number[] = [];
  for (const size of sizes) statuses.push((await postStatus(headers, newIds(size))).status);
  return statuses;
}

/** A client's whole allowance (test/config.ts: 120 ids): a 100-id poll and a 20-id one. */
const ALLOWANCE = [100, TEST_STATUS_LIMIT - 100];

async function withToken(ip: string, to: string): Promise<Record<string, string>> {
  return { "cf-connecting-ip": ip, authorization: `Bearer ${await tokenFor(to)}`, "notepipe-to": to };
}

describe("status polls", () => {
  it("spend one of the client's allowance per id: a 100-id poll 100, a GET 1", async () => {
    const from = { "cf-connecting-ip": "198.51.100.7" };

    expect(await polls(from, [100, TEST_STATUS_LIMIT - 101])).toEqual([200, 200]);
    expect((await getStatus(from)).status).toBe(404);
    const read = vi.spyOn(env.STATUS, "get");

    const refused = await getStatus(from);

    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(refused.headers.get("access-control-expose-headers")).toBe("retry-after");
    expect(await refused.json()).toEqual({
      error: "rate_limited",
      message: "Too many status polls from this client; retry after the Retry-After seconds.",
    });
    expect(read).not.toHaveBeenCalled();
  });

  it("count an id asked twice in one poll once: it is read once", async () => {
    const from = { "cf-connecting-ip": "198.51.100.8" };
    // Each id twice: three such polls spend the client's whole allowance.
    const twice = () => {
      const ids = newIds(TEST_STATUS_LIMIT / 3);
      return [...ids, ...ids];
    };
    for (let i = 0; i < 3; i++) expect((await postStatus(from, twice())).status).toBe(200);

    expect((await postStatus(from, [ID])).status).toBe(429);
  });

  it("let a poll through while any allowance is left: a client reads at most 119 + 100 = 219 ids a minute", async () => {
    const from = { "cf-connecting-ip": "198.51.100.9" };
    expect(TEST_STATUS_LIMIT - 1 + 100).toBe(219);
    expect(await polls(from, [100, TEST_STATUS_LIMIT - 101, 100])).toEqual([200, 200, 200]);
    const read = vi.spyOn(env.STATUS, "get");

    expect(await polls(from, [1, 100])).toEqual([429, 429]);
    expect(read).not.toHaveBeenCalled();
  });

  it("spend a 100-id poll's 100 from one call per limiter, whatever the poll's size", async () => {
    const address = vi.spyOn(env.STATUS_ADDRESS_LIMITER, "limit");
    const client = vi.spyOn(env.STATUS_LIMITER, "limit");

    expect(await polls({ "cf-connecting-ip": "198.51.100.14" }, [100])).toEqual([200]);

    expect(address.mock.calls).toEqual([[{ key: "address:198.51.100.14", delta: 100 }]]);
    expect(client.mock.calls).toEqual([[{ key: "address:198.51.100.14", delta: 100 }]]);
  });

  it("leave other addresses alone", async () => {
    await polls({ "cf-connecting-ip": "198.51.100.10" }, ALLOWANCE);
    expect((await getStatus({ "cf-connecting-ip": "198.51.100.10" })).status).toBe(429);
    expect((await getStatus({ "cf-connecting-ip": "198.51.100.11" })).status).toBe(404);
  });

  it("count an IPv6 client by its /64, however it spells its addresses", async () => {
    const inBlock = ["2001:db8:1:2::a", "2001:DB8:1:2:0:0:0:b", "2001:db8:1:2:ffff::1", "2001:db8:0001:0002::c"];
    const half = (TEST_STATUS_LIMIT - 100) / 2;
    for (const [address, size] of [
      [inBlock[0], 100],
      [inBlock[1], half],
      [inBlock[2], half],
    ] as const) {
      expect(await polls({ "cf-connecting-ip": address as string }, [size])).toEqual([200]);
    }
    expect((await getStatus({ "cf-connecting-ip": inBlock[3] as string })).status).toBe(429);
    expect((await getStatus({ "cf-connecting-ip": "2001:db8:1:3::a" })).status).toBe(404);
  });

  it("from the machine itself (127.0.0.1, ::1) are limited like anyone's", async () => {
    for (const address of ["127.0.0.1", "::1"]) {
      expect(await polls({ "cf-connecting-ip": address }, ALLOWANCE)).toEqual([200, 200]);
      expect((await getStatus({ "cf-connecting-ip": address })).status).toBe(429);
    }
  });
});

describe("a client token in the poll", () => {
  it("that verifies gives its client its own allowance behind a shared address (carrier NAT)", async () => {
    const nat = "203.0.113.5";
    const ada = await withToken(nat, "ada@example.com");
    const bob = await withToken(nat, "bob@example.com");

    expect(await polls(ada, ALLOWANCE)).toEqual([200, 200]);

    expect((await getStatus(ada)).status).toBe(429);
    expect((await getStatus(bob)).status).toBe(404);
    expect((await getStatus({ "cf-connecting-ip": nat })).status).toBe(404);
  });

  it("is checked against the address Notepipe-To names, in any case", async () => {
    const nat = "203.0.113.6";
    const ada = { ...(await withToken(nat, "ada@example.com")), "notepipe-to": "Ada@Example.com" };
    await polls({ "cf-connecting-ip": nat }, ALLOWANCE);

    expect((await getStatus(ada)).status).toBe(404);
  });

  it("buys nothing when it does not verify: made up, another address's, or without Notepipe-To", async () => {
    const from = "203.0.113.7";
    const ada = await tokenFor("ada@example.com");
    const variants: Record<string, string>[] = [
      { authorization: `Bearer np1.k2026a.${"A".repeat(43)}`, "notepipe-to": "ada@example.com" },
      { authorization: `Bearer ${ada}`, "notepipe-to": "grace@example.com" },
      { authorization: `Bearer ${ada}` },
    ];
    // The address's own allowance, spent by the three in turn: none of them is a client of its own.
    expect(await polls({ "cf-connecting-ip": from, ...variants[0] }, [100])).toEqual([200]);
    expect(await polls({ "cf-connecting-ip": from, ...variants[1] }, [TEST_STATUS_LIMIT - 100])).toEqual([200]);

    expect((await getStatus({ "cf-connecting-ip": from, ...variants[2] })).status).toBe(429);
  });

  it("made up afresh for every poll, buys no allowance beyond the address's own", async () => {
    const madeUp = (i: number) => ({
      "cf-connecting-ip": "203.0.113.9",
      authorization: `Bearer np1.k2026a.${i.toString().padStart(43, "A")}`,
      "notepipe-to": "ada@example.com",
    });
    expect((await postStatus(madeUp(1), newIds(100))).status).toBe(200);
    expect((await postStatus(madeUp(2), newIds(TEST_STATUS_LIMIT - 100))).status).toBe(200);

    expect((await getStatus(madeUp(3))).status).toBe(429);
  });

  it("never take an address past 300 ids a minute, however many tokens poll from it", async () => {
    const from = "203.0.113.8";
    const clients = await Promise.all(["a", "b", "c", "d"].map((name) => withToken(from, `${name}@example.com`)));
    // The worst case, the README's ceiling: 200 ids counted, one under the limit, then a 100-id poll.
    expect(TEST_STATUS_ADDRESS_LIMIT - 1 + 100).toBe(300);
    for (const client of clients.slice(0, 3)) expect(await polls(client, [100])).toEqual([200]);

    expect((await getStatus(clients[3] as Record<string, string>)).status).toBe(429);
  });
});

it("answers 503 rate_limiter_unavailable with Retry-After, reading no KV, when the limiter fails", async () => {
  vi.spyOn(env.STATUS_ADDRESS_LIMITER, "limit").mockRejectedValue(new TypeError("limit failed for key address:…"));
  const read = vi.spyOn(env.STATUS, "get");
  const log = vi.spyOn(console, "error").mockImplementation(() => {});

  const response = await getStatus({ "cf-connecting-ip": "198.51.100.12" });

  expect(response.status).toBe(503);
  expect(response.headers.get("retry-after")).toBe("10");
  expect(await response.json()).toEqual({ error: "rate_limiter_unavailable", message: expect.any(String) });
  expect(read).not.toHaveBeenCalled();
  // Never the message: it could quote the key, which may be the client's token.
  expect(log).toHaveBeenCalledWith("ingest: STATUS_ADDRESS_LIMITER.limit failed: TypeError");
});

it("the SDK's resumeOnOpen, refused once, waits the Retry-After and then gets its answer", async () => {
  const from = { "cf-connecting-ip": "198.51.100.13" };
  await polls(from, ALLOWANCE);
  const store = new MemoryPendingStore();
  await store.put([{ id: ID, state: "pending", acceptedAt: Date.now() - 1000 }]);
  const waits: number[] = [];

  const result = await resumeOnOpen({
    endpoint: BASE,
    store,
    // The phone's requests, from the address that has used its allowance.
    fetch: (url, init) => exports.default.fetch(url, { ...init, headers: { ...init?.headers, ...from } }),
    // Instead of waiting 60 s: a new window, as the limiter would give once they have passed.
    sleep: async (ms) => {
      waits.push(ms);
      await reset();
    },
  });

  expect(waits).toEqual([60_000]);
  expect(result).toEqual({ changes: [], pending: [{ id: ID, state: "pending", acceptedAt: expect.any(Number) }] });
});
