import { describe, expect, it } from "vitest";
import { createFakeCloudflareApi } from "../src/index.ts";

const ACCOUNT_ID = "0123456789abcdef0123456789abcdef";
const TOKEN = "test-token";
const AUTH = { Authorization: `Bearer ${TOKEN}` };

function fake(subdomain?: string | null) {
  return createFakeCloudflareApi({
    apiToken: TOKEN,
    accountId: ACCOUNT_ID,
    ...(subdomain === undefined ? {} : { subdomain }),
  });
}

function call(api: ReturnType<typeof fake>, path: string, init: RequestInit = {}) {
  return api.app.request(`/client/v4/accounts/${ACCOUNT_ID}${path}`, {
    ...init,
    headers: { ...AUTH, "Content-Type": "application/json", ...init.headers },
  });
}

describe("the gateway's checks", () => {
  it("refuses a request without credentials with code 9106, and records it", async () => {
    const api = fake();
    const answer = await api.app.request(`/client/v4/accounts/${ACCOUNT_ID}/queues`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({
      success: false,
      errors: [{ code: 9106, message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers" }],
      messages: [],
      result: null,
    });
    expect(api.requests).toEqual([
      { method: "GET", url: `/client/v4/accounts/${ACCOUNT_ID}/queues`, contentType: null, body: "", status: 400 },
    ]);
  });

  it("refuses another token, and another account's id, with 10000 Authentication error", async () => {
    const api = fake();
    const wrongToken = await api.app.request(`/client/v4/accounts/${ACCOUNT_ID}/queues`, {
      headers: { Authorization: "Bearer other" },
    });
    const otherAccount = await api.app.request(`/client/v4/accounts/${"f".repeat(32)}/queues`, { headers: AUTH });
    for (const answer of [wrongToken, otherAccount]) {
      expect(answer.status).toBe(403);
      expect(((await answer.json()) as { errors: unknown }).errors).toEqual([
        { code: 10000, message: "Authentication error" },
      ]);
    }
  });

  it("answers a route nobody modelled with 7000 No route for that URI", async () => {
    const answer = await call(fake(), "/d1/database");
    expect(answer.status).toBe(404);
    expect(((await answer.json()) as { errors: unknown }).errors).toEqual([
      { code: 7000, message: "No route for that URI" },
    ]);
  });
});

describe("resources", () => {
  it("creates a queue once: the same name again is 409 with code 11009", async () => {
    const api = fake();
    const body = JSON.stringify({ queue_name: "notes" });
    expect((await call(api, "/queues", { method: "POST", body })).status).toBe(200);
    const again = await call(api, "/queues", { method: "POST", body });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { errors: unknown }).errors).toEqual([
      { code: 11009, message: "A queue with this name already exists." },
    ]);
    expect([...api.state.queues.values()].map((queue) => queue.queue_name)).toEqual(["notes"]);
  });

  it("refuses a second KV namespace of the same title with 400", async () => {
    const api = fake();
    const body = JSON.stringify({ title: "notepipe-status" });
    const first = await call(api, "/storage/kv/namespaces", { method: "POST", body });
    expect(((await first.json()) as { result: { id: string } }).result.id).toMatch(/^[0-9a-f]{32}$/);
    expect((await call(api, "/storage/kv/namespaces", { method: "POST", body })).status).toBe(400);
  });

  it("pages a list by page and per_page, with the result_info wrangler reads", async () => {
    const api = fake();
    for (const name of ["a", "b", "c"]) {
      await call(api, "/queues", { method: "POST", body: JSON.stringify({ queue_name: name }) });
    }
    const answer = (await (await call(api, "/queues?page=2&per_page=2")).json()) as {
      result: { queue_name: string }[];
      result_info: unknown;
    };
    expect(answer.result.map((queue) => queue.queue_name)).toEqual(["c"]);
    expect(answer.result_info).toEqual({ page: 2, per_page: 2, count: 1, total_count: 3, total_pages: 2 });
  });

  it("answers 10007 for a Worker or a workers.dev subdomain that does not exist", async () => {
    const api = fake(null);
    for (const path of [
      "/workers/services/notepipe-ingest",
      "/workers/scripts/notepipe-ingest/secrets",
      "/workers/subdomain",
    ]) {
      const answer = await call(api, path);
      expect(answer.status, path).toBe(404);
      expect(((await answer.json()) as { errors: { code: number }[] }).errors[0]?.code, path).toBe(10007);
    }
  });
});

describe("a Worker upload", () => {
  function upload(api: ReturnType<typeof fake>, name: string, metadata: Record<string, unknown>) {
    const form = new FormData();
    form.set("metadata", JSON.stringify({ main_module: "index.js", ...metadata }));
    form.set("index.js", new Blob(["export default {}"], { type: "application/javascript+module" }), "index.js");
    return api.app.request(`/client/v4/accounts/${ACCOUNT_ID}/workers/scripts/${name}?bindings_inherit=strict`, {
      method: "PUT",
      headers: AUTH,
      body: form,
    });
  }

  async function reason(answer: Response): Promise<string> {
    return ((await answer.json()) as { errors: { message: string }[] }).errors[0]?.message ?? "";
  }

  it("is refused while a binding names a KV namespace, a queue or a Worker the account lacks", async () => {
    const api = fake();
    const kv = await upload(api, "w", {
      bindings: [{ type: "kv_namespace", name: "STATUS", namespace_id: "0".repeat(32) }],
    });
    expect([kv.status, await reason(kv)]).toEqual([400, `KV namespace '${"0".repeat(32)}' is not valid.`]);
    const queue = await upload(api, "w", { bindings: [{ type: "queue", name: "Q", queue_name: "notes" }] });
    expect([queue.status, await reason(queue)]).toEqual([400, "Queue 'notes' does not exist"]);
    const service = await upload(api, "w", {
      bindings: [{ type: "service", name: "DELIVER", service: "notepipe-deliver" }],
    });
    expect([service.status, await reason(service)]).toEqual([
      400,
      "Could not resolve service binding 'DELIVER': no Worker 'notepipe-deliver'",
    ]);
    expect(api.state.scripts.size).toBe(0);
  });

  it("inherits a secret only from the deployed version", async () => {
    const api = fake();
    const orphan = await upload(api, "w", { bindings: [{ type: "inherit", name: "MAIL_API_KEY" }] });
    expect([orphan.status, await reason(orphan)]).toEqual([400, "inherit binding 'MAIL_API_KEY' is invalid"]);
    expect(
      (await upload(api, "w", { bindings: [{ type: "secret_text", name: "MAIL_API_KEY", text: "k1" }] })).status,
    ).toBe(200);
    expect((await upload(api, "w", { bindings: [{ type: "inherit", name: "MAIL_API_KEY" }] })).status).toBe(200);
    expect(api.state.scripts.get("w")?.secrets).toEqual(new Map([["MAIL_API_KEY", "k1"]]));
    // A version that names the secret neither way drops it.
    expect((await upload(api, "w", { bindings: [] })).status).toBe(200);
    expect(api.state.scripts.get("w")?.secrets).toEqual(new Map());
  });

  it("applies a Durable Object migration once: its old_tag must be the Worker's current tag", async () => {
    const api = fake();
    const bindings = [{ type: "durable_object_namespace", name: "LEDGER", class_name: "DeliveryLedger" }];
    const migrations = { new_tag: "v1", steps: [{ new_sqlite_classes: ["DeliveryLedger"] }] };
    const unmigrated = await upload(api, "w", { bindings });
    expect(unmigrated.status).toBe(400);
    expect((await upload(api, "w", { bindings, migrations })).status).toBe(200);
    const replayed = await upload(api, "w", { bindings, migrations });
    expect([replayed.status, ((await replayed.json()) as { errors: { code: number }[] }).errors[0]?.code]).toEqual([
      400, 10079,
    ]);
    expect((await upload(api, "w", { bindings })).status).toBe(200);
    expect(api.state.scripts.get("w")?.migrationTag).toBe("v1");
  });
});
