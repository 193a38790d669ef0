import { describe, expect, it } from "vitest";
import { createLocalProvider } from "../src/index.ts";
import { NOTE_ID, postJson, postmarkMessage, postPostmark, postResend, resendEmail } from "./requests.ts";

const OTHER_NOTE = "9aa7c548-ad1e-4f78-a2e6-0ac888e03252";

async function filled() {
  const provider = createLocalProvider({ rateLimitPerSecond: 0 });
  await postResend(provider.app, "/emails/batch", [
    resendEmail(),
    resendEmail({
      to: "grace@example.com",
      tags: [{ name: "note_id", value: OTHER_NOTE }],
      headers: { "X-Notepipe-Note-Id": OTHER_NOTE },
    }),
  ]);
  await postPostmark(provider.app, [postmarkMessage({ To: "grace@example.com" })]);
  return provider;
}

async function inbox(app: ReturnType<typeof createLocalProvider>["app"], query = "") {
  const res = await app.request(`/inbox${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { count: number; emails: { noteId: string; to: string[]; provider: string }[] };
}

describe("GET /inbox", () => {
  it("lists every email in arrival order", async () => {
    const { app } = await filled();
    const body = await inbox(app);
    expect(body.count).toBe(3);
    expect(body.emails.map((e) => [e.provider, e.noteId])).toEqual([
      ["resend", NOTE_ID],
      ["resend", OTHER_NOTE],
      ["postmark", NOTE_ID],
    ]);
  });

  it("filters by note id, recipient and provider", async () => {
    const { app } = await filled();
    expect((await inbox(app, `?note_id=${NOTE_ID}`)).count).toBe(2);
    expect((await inbox(app, "?to=GRACE@example.com")).count).toBe(2);
    expect((await inbox(app, `?note_id=${NOTE_ID}&provider=postmark`)).count).toBe(1);
  });

  it("refuses an unknown filter with 400", async () => {
    const { app } = await filled();
    const res = await app.request("/inbox?noteid=x");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "bad_request" });
  });

  it("lets a page on another origin read it (CORS)", async () => {
    const { app } = await filled();
    const res = await app.request("/inbox", { headers: { origin: "http://127.0.0.1:5173" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("DELETE /inbox", () => {
  it("empties it and says how many it deleted", async () => {
    const { app } = await filled();
    const res = await app.request("/inbox", { method: "DELETE" });
    expect(await res.json()).toEqual({ deleted: 3 });
    expect((await inbox(app)).count).toBe(0);
  });
});

describe("GET /", () => {
  it("shows what arrived, with every field HTML-escaped", async () => {
    const { app } = createLocalProvider({ rateLimitPerSecond: 0 });
    await postResend(app, "/emails", resendEmail({ subject: "<script>alert(1)</script>", text: "a&b" }));
    const res = await app.request("/");
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const page = await res.text();
    expect(page).not.toContain("<script>");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(page).toContain("a&amp;b");
    expect(page).toContain(NOTE_ID);
  });
});

describe("GET /_control/stats", () => {
  it("counts send requests by the status they got, and the emails", async () => {
    const { app } = createLocalProvider({ rateLimitPerSecond: 0 });
    await postResend(app, "/emails", resendEmail());
    await postResend(app, "/emails", resendEmail(), { authorization: "Bearer re_wrong" });
    await postResend(app, "/emails", resendEmail({ subject: undefined }));
    await postPostmark(app, [postmarkMessage()]);
    const res = await app.request("/_control/stats");
    expect(await res.json()).toMatchObject({
      requests: 4,
      byStatus: { "200": 2, "403": 1, "422": 1 },
      hung: 0,
      replayed: 0,
      emails: 2,
    });
  });
});

describe("POST /_control/reset", () => {
  it("forgets emails, keys, counts and faults", async () => {
    const { app, state } = await filled();
    await postJson(app, "/_control/faults", { errorRate: { "500": 1 } });
    await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k" });
    expect((await postJson(app, "/_control/reset", {})).status).toBe(200);
    expect(state.inbox.size).toBe(0);
    expect(state.stats.requests).toBe(0);
    expect((await postResend(app, "/emails", resendEmail(), { "idempotency-key": "k" })).status).toBe(200);
  });
});

describe("unknown routes", () => {
  it("answer 404 in Resend's shape under /emails, notepipe's elsewhere", async () => {
    const { app } = createLocalProvider();
    const resend = await app.request("/emails/123/cancel", { method: "POST" });
    expect(resend.status).toBe(404);
    expect(await resend.json()).toEqual({
      statusCode: 404,
      name: "not_found",
      message: "The requested endpoint does not exist.",
    });
    const other = await app.request("/nowhere");
    expect(other.status).toBe(404);
    expect(await other.json()).toMatchObject({ error: "not_found" });
  });
});
