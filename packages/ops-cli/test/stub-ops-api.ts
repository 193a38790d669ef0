/**
 * A stand-in for the ops API on a Node port, with the routes, auth and answers of
 * workers/deliver/src/ops over an in-memory store, so that the CLI's tests exercise real HTTP:
 * paging, replay counts, refusals, failures. Every answer is typed with the API's contract
 * (@notepipe/pipeline), so a change of shape breaks the typecheck here too. The real API is
 * tested inside workerd (workers/deliver/test/ops-integration.test.ts) and end to end in
 * e2e/ops-walkthrough.test.ts.
 */

import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type {
  DeadLetterListing,
  DeadLetterView,
  DiscardAnswer,
  OpsStats,
  ReplayAnswer,
  ReplayResult,
} from "@notepipe/pipeline";
import { Hono } from "hono";

export const STUB_TOKEN = "stub-ops-token-0123456789";

interface ReplayBody {
  ids: string[];
  includePossiblySent?: boolean;
}

export interface StubOpsApi {
  url: string;
  /** The dead letters it holds; a replay or a discard removes them. */
  store: DeadLetterView[];
  /** Ids a replay reports as failed (queue_unavailable). */
  failIds: Set<string>;
  /** Every request, as `METHOD path?query`, and every replay body. */
  requests: string[];
  replayBodies: ReplayBody[];
  /** Answer every ops request with this status and an error body instead. */
  failWith: number | null;
  close(): Promise<void>;
}

/** Entries per listing page, whatever `limit` asks: small, so that paging is exercised. */
const PAGE = 2;

export function deadLetter(i: number, overrides: Partial<DeadLetterView> = {}): DeadLetterView {
  const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
  return {
    id,
    reason: "sender_not_verified",
    message: "Retries ran out after 11 attempt(s).",
    attempts: 11,
    firstFailureAt: "2026-11-23T07:00:00.000Z",
    lastFailureAt: "2026-11-23T07:10:00.000Z",
    possiblySent: false,
    recipient: "a***@example.com",
    acceptedAt: "2026-11-23T06:59:00.000Z",
    ...overrides,
  };
}

export async function startStubOpsApi(entries: DeadLetterView[] = []): Promise<StubOpsApi> {
  const stub = {
    store: [...entries],
    failIds: new Set<string>(),
    requests: [] as string[],
    replayBodies: [] as ReplayBody[],
    failWith: null as number | null,
  };
  const app = new Hono();
  app.use("/ops/*", async (c, next) => {
    const url = new URL(c.req.url);
    stub.requests.push(`${c.req.method} ${url.pathname}${url.search}`);
    if (c.req.header("authorization") !== `Bearer ${STUB_TOKEN}`) {
      return c.json({ error: "unauthorized", message: "This ops token is not valid." }, 401);
    }
    if (stub.failWith !== null) {
      return c.json({ error: "not_configured", message: "OPS_TOKENS must hold one or more tokens." }, 503);
    }
    await next();
  });
  app.get("/ops/dead-letters", (c) => {
    const reason = c.req.query("reason");
    const since = c.req.query("since");
    const matching = stub.store.filter(
      (entry) =>
        (reason === undefined || entry.reason === reason) && (since === undefined || entry.lastFailureAt >= since),
    );
    const start = Number(c.req.query("cursor") ?? 0);
    const end = start + PAGE;
    const listing: DeadLetterListing = {
      deadLetters: matching.slice(start, end),
      cursor: end < matching.length ? String(end) : null,
    };
    return c.json(listing);
  });
  app.post("/ops/dead-letters/replay", async (c) => {
    const body = (await c.req.json()) as ReplayBody;
    stub.replayBodies.push(body);
    const results = body.ids.map((id): ReplayResult => {
      if (stub.failIds.has(id)) return { id, outcome: "failed", reason: "queue_unavailable" };
      const at = stub.store.findIndex((entry) => entry.id === id);
      if (at === -1) return { id, outcome: "skipped", reason: "not_found" };
      if (stub.store[at]?.possiblySent && body.includePossiblySent !== true) {
        return { id, outcome: "skipped", reason: "possibly_sent" };
      }
      stub.store.splice(at, 1);
      return { id, outcome: "replayed" };
    });
    const count = (outcome: string) => results.filter((result) => result.outcome === outcome).length;
    const answer: ReplayAnswer = {
      replayed: count("replayed"),
      skipped: count("skipped"),
      failed: count("failed"),
      skippedPossiblySent: results.filter((result) => result.outcome === "skipped" && result.reason === "possibly_sent")
        .length,
      results,
    };
    return c.json(answer);
  });
  app.delete("/ops/dead-letters/:id", (c) => {
    const at = stub.store.findIndex((entry) => entry.id === c.req.param("id"));
    if (at === -1) return c.json({ error: "dead_letter_not_found", message: "No dead letter has this id." }, 404);
    stub.store.splice(at, 1);
    const answer: DiscardAnswer = { id: c.req.param("id"), discarded: true, state: "failed" };
    return c.json(answer);
  });
  app.get("/ops/stats", (c) => {
    const stats: OpsStats = {
      states: { sent: 120, delivered: 80, dead: stub.store.length },
      records: 200 + stub.store.length,
      deadLetters: {
        total: stub.store.length,
        byReason: { sender_not_verified: stub.store.length },
        possiblySent: stub.store.filter((entry) => entry.possiblySent).length,
      },
      behind: 4,
      unanswered: 1,
      complete: true,
      usage: { since: "2026-12-01T00:00:00.000Z", requests: {}, rowsRead: 0, rowsWritten: 0, kvWrites: 0, claimedNotes: 0 },
    };
    return c.json(stats);
  });
  // Not the ops API: what a wrong URL (a web server, another service) answers.
  app.get("/html/*", (c) => c.html("<h1>Welcome</h1>"));
  app.notFound((c) => c.text("Not Found", 404));

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  });
}
