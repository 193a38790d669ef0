/**
 * The status routes' rate limit (src/status-poll-limit.ts): every poll counts once against its
 * client, its token else its address, made-up tokens share their address's ceiling, and a refused
 * poll gets a 429 whose Retry-After the SDK waits out. The limits are test-sized (test/config.ts).
 */

import { reset } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { MemoryPendingStore, resumeOnOpen } from "@notepipe/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BASE, tokenFor } from "./client.ts";
import { TEST_STATUS_ADDRESS_LIMIT, TEST_STATUS_LIMIT } from "./config.ts";

afterEach(() => reset());

const ID = "3b241101-e2bb-4255-8caf-4136c566a962";

function getStatus(headers: Record<string, string>, id = ID) {
  return exports.default.fetch(`${BASE}/v1/notes/${id}`, { headers });
}

function postStatus(headers: Record<string, string>, ids: string[] = [ID]) {
  return exports.default.fetch(`${BASE}/v1/notes/status`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ ids }),
  });
}

/** `n` polls in a row; the statuses they got. */
async function poll(n: number, send: () => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await send()).status);
  return statuses;
}

/** A token in the shape of one, with a current kid and a MAC nobody signed. */
function madeUpToken(n: number): string {
  return `np1.k2026a.${n.toString(36).padStart(42, "A")}A`;
}

describe("status polls beyond a client's limit", () => {
  it("get 429 rate_limited with Retry-After: 10, and KV is not read for them", async () => {
    const from = { "cf-connecting-ip": "198.51.100.7" };
    expect(await poll(TEST_STATUS_LIMIT, () => getStatus(from))).toEqual(Array(TEST_STATUS_LIMIT).fill(404));
    const read = vi.spyOn(env.STATUS, "get");

    const refused = await getStatus(from);

    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("10");
    expect(refused.headers.get("access-control-expose-headers")).toBe("retry-after");
    expect(await refused.json()).toEqual({
      error: "rate_limited",
      message: "Too many status polls from this client; retry after the Retry-After seconds.",
    });
    expect(read).not.toHaveBeenCalled();
  });

  it("count a 100-id POST once, like a GET, on one allowance for both routes", async () => {
    const from = { "cf-connecting-ip": "198.51.100.8" };
    const hundred = Array.from({ length: 100 }, () => crypto.randomUUID());

    const statuses = await poll(TEST_STATUS_LIMIT, () => postStatus(from, hundred));

    expect(statuses).toEqual(Array(TEST_STATUS_LIMIT).fill(200));
    expect((await getStatus(from)).status).toBe(429);
    expect((await postStatus(from, hundred)).status).toBe(429);
  });

  it("leave other addresses alone", async () => {
    await poll(TEST_STATUS_LIMIT, () => getStatus({ "cf-connecting-ip": "198.51.100.9" }));
    expect((await getStatus({ "cf-connecting-ip": "198.51.100.9" })).status).toBe(429);
    expect((await getStatus({ "cf-connecting-ip": "198.51.100.10" })).status).toBe(404);
  });

  it("count an IPv6 client by its /64, however it spells its addresses", async () => {
    const inBlock = ["2001:db8:1:2::a", "2001:DB8:1:2:0:0:0:b", "2001:db8:1:2:ffff::1", "2001:db8:0001:0002::c"];
    for (let i = 0; i < TEST_STATUS_LIMIT; i++) {
      expect((await getStatus({ "cf-connecting-ip": inBlock[i % inBlock.length] as string })).status).toBe(404);
    }
    expect((await getStatus({ "cf-connecting-ip": "2001:db8:1:2::d" })).status).toBe(429);
    expect((await getStatus({ "cf-connecting-ip": "2001:db8:1:3::a" })).status).toBe(404);
  });
});

describe("a client token in the request", () => {
  it("gives its client its own allowance behind a shared address (carrier NAT)", async () => {
    const nat = "203.0.113.5";
    const ada = { "cf-connecting-ip": nat, authorization: `Bearer ${await tokenFor("ada@example.com")}` };
    const bob = { "cf-connecting-ip": nat, authorization: `Bearer ${await tokenFor("bob@example.com")}` };

    await poll(TEST_STATUS_LIMIT, () => getStatus(ada));

    expect((await getStatus(ada)).status).toBe(429);
    expect((await getStatus(bob)).status).toBe(404);
    expect((await getStatus({ "cf-connecting-ip": nat })).status).toBe(404);
  });

  it("buys no more than the address's ceiling when tokens are made up", async () => {
    const from = "203.0.113.6";
    const statuses: number[] = [];
    for (let n = 0; n <= TEST_STATUS_ADDRESS_LIMIT; n++) {
      const headers = { "cf-connecting-ip": from, authorization: `Bearer ${madeUpToken(n)}` };
      statuses.push((await getStatus(headers)).status);
    }
    expect(statuses).toEqual([...Array(TEST_STATUS_ADDRESS_LIMIT).fill(404), 429]);
  });

  it("that is malformed or of a retired kid counts the poll against the address", async () => {
    const from = "203.0.113.7";
    const retired = { "cf-connecting-ip": from, authorization: `Bearer np1.k1999.${"A".repeat(43)}` };
    await poll(TEST_STATUS_LIMIT, () => getStatus(retired));
    expect((await getStatus({ "cf-connecting-ip": from })).status).toBe(429);
  });
});

it("does not limit the machine itself (127.0.0.1, ::1): only a local stack sees those", async () => {
  for (const address of ["127.0.0.1", "::1"]) {
    const statuses = await poll(TEST_STATUS_LIMIT * 2, () => getStatus({ "cf-connecting-ip": address }));
    expect(statuses).toEqual(Array(TEST_STATUS_LIMIT * 2).fill(404));
  }
});

it("answers 503 rate_limiter_unavailable with Retry-After, reading no KV, when the limiter fails", async () => {
  vi.spyOn(env.STATUS_LIMITER, "limit").mockRejectedValue(new TypeError("limit failed for key token:np1.k2026a.…"));
  const read = vi.spyOn(env.STATUS, "get");
  const log = vi.spyOn(console, "error").mockImplementation(() => {});

  const response = await getStatus({ "cf-connecting-ip": "198.51.100.11" });

  expect(response.status).toBe(503);
  expect(response.headers.get("retry-after")).toBe("10");
  expect(await response.json()).toEqual({ error: "rate_limiter_unavailable", message: expect.any(String) });
  expect(read).not.toHaveBeenCalled();
  // Never the message: it could quote the key, which may be the client's token.
  expect(log).toHaveBeenCalledWith("ingest: STATUS_LIMITER.limit failed: TypeError");
});

it("the SDK's resumeOnOpen, refused once, waits the Retry-After and then gets its answer", async () => {
  const from = { "cf-connecting-ip": "198.51.100.12" };
  await poll(TEST_STATUS_LIMIT, () => getStatus(from));
  const store = new MemoryPendingStore();
  await store.put([{ id: ID, state: "pending", acceptedAt: Date.now() - 1000 }]);
  const waits: number[] = [];

  const result = await resumeOnOpen({
    endpoint: BASE,
    store,
    // The phone's requests, from the address that has used its allowance.
    fetch: (url, init) => exports.default.fetch(url, { ...init, headers: { ...init?.headers, ...from } }),
    // Instead of waiting 10 s: a new window, as the limiter would give once they have passed.
    sleep: async (ms) => {
      waits.push(ms);
      await reset();
    },
  });

  expect(waits).toEqual([10_000]);
  expect(result).toEqual({ changes: [], pending: [{ id: ID, state: "pending", acceptedAt: expect.any(Number) }] });
});
