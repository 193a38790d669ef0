/**
 * The ops console (/ops/) inside workerd, through the Worker's HTTP app as ingest forwards to it:
 * who gets in (a current ops token, once, for a signed cookie that expires, cannot be forged and
 * dies with its token), what every form needs (the session's CSRF token and the console's own
 * Origin), what each action does to dead letters deliver filed itself, and what a note's page
 * shows of its address and content.
 */

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { http } from "../src/app.ts";
import { SESSION_TTL_MS } from "../src/console/session.ts";
import { TEST_OPS_TOKENS } from "./http-config.ts";
import { deadLetterOf, envWith, ledger, ledgerNote } from "./ledger.ts";
import {
  makeNote,
  makeNotes,
  messageOf,
  mockProvider,
  resendAccepted,
  resendError,
  runQueue,
  type SeenRequest,
} from "./notes.ts";
import { deadLetterAsPossiblySent, deadLetterAsRejected, recordingQueue, sentMessages } from "./ops.ts";

const ORIGIN = "https://notes.example.com";

interface Browser {
  cookie: string | null;
  /** The client address Cloudflare reports: each test signs in from its own, for the limiter. */
  address: string;
}

let addresses = 0;
function browser(): Browser {
  addresses++;
  return { cookie: null, address: `192.0.2.${addresses}` };
}

/** A request as a browser on the console's page sends it; `origin: null` leaves the header out. */
async function send(
  who: Browser,
  path: string,
  init: { method?: string; form?: Record<string, string | string[]>; origin?: string | null } = {},
  environment: Env = env,
): Promise<Response> {
  const headers = new Headers({ "cf-connecting-ip": who.address });
  if (who.cookie !== null) headers.set("cookie", who.cookie);
  let body: string | undefined;
  if (init.form !== undefined) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(init.form)) {
      for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
    }
    body = params.toString();
    headers.set("content-type", "application/x-www-form-urlencoded");
  }
  const origin = init.origin === undefined ? ORIGIN : init.origin;
  if (origin !== null) headers.set("origin", origin);
  const res = await http.request(`${ORIGIN}${path}`, { method: init.method ?? "GET", headers, body }, environment);
  const setCookie = res.headers.get("set-cookie");
  if (setCookie !== null) who.cookie = setCookie.split(";")[0] as string;
  return res;
}

async function signedIn(token: string = TEST_OPS_TOKENS[0], environment: Env = env): Promise<Browser> {
  const who = browser();
  const res = await send(who, "/ops/console/sign-in", { method: "POST", form: { token } }, environment);
  expect(res.status).toBe(303);
  return who;
}

/** The CSRF token a page's forms carry. */
async function csrfOf(who: Browser, environment: Env = env): Promise<string> {
  const html = await (await send(who, "/ops/console/dead-letters", {}, environment)).text();
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] as string;
}

async function errorOf(res: Response): Promise<{ status: number; error: string }> {
  return { status: res.status, error: ((await res.json()) as { error: string }).error };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("signing in", () => {
  it("sends a visitor without a session from every page to the sign-in form", async () => {
    for (const path of [
      "/ops/",
      "/ops/console/dead-letters",
      "/ops/console/notes/3b241101-e2bb-4255-8caf-4136c566a962",
    ]) {
      const res = await send(browser(), path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/ops/console/sign-in");
    }
    const form = await send(browser(), "/ops/console/sign-in");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await form.text()).toContain('<input type="password" name="token"');
  });

  it("trades a current ops token for a __Host- cookie that is HttpOnly, Secure, SameSite=Strict and expires in 8 hours", async () => {
    const who = browser();
    const res = await send(who, "/ops/console/sign-in", { method: "POST", form: { token: TEST_OPS_TOKENS[1] } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/ops/");
    expect(res.headers.get("set-cookie")).toMatch(
      /^__Host-notepipe-ops=\d{13}\.[\w-]{22}\.[\w-]{43}; Max-Age=28800; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    expect((await send(who, "/ops/console/dead-letters")).status).toBe(200);
  });

  it("shows the form again with 401 for a wrong token, and sets no cookie", async () => {
    const who = browser();
    const res = await send(who, "/ops/console/sign-in", {
      method: "POST",
      form: { token: "ops-test-token-2026z-0123456789" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await res.text()).toContain("That is not a current ops token.");
  });

  it("takes at most 10 tries a minute from one address, refusing the 11th before comparing it", async () => {
    const who = browser();
    for (let i = 0; i < 10; i++) {
      const res = await send(who, "/ops/console/sign-in", {
        method: "POST",
        form: { token: `wrong-${i}-0123456789abcdef` },
      });
      expect(res.status).toBe(401);
    }
    const res = await send(who, "/ops/console/sign-in", { method: "POST", form: { token: TEST_OPS_TOKENS[0] } });
    expect(res.status).toBe(429);
    expect(res.headers.get("set-cookie")).toBeNull();
    // Another address is not held back.
    expect(
      (await send(browser(), "/ops/console/sign-in", { method: "POST", form: { token: TEST_OPS_TOKENS[0] } })).status,
    ).toBe(303);
  });

  it("refuses a sign-in posted from another origin", async () => {
    const res = await send(browser(), "/ops/console/sign-in", {
      method: "POST",
      form: { token: TEST_OPS_TOKENS[0] },
      origin: "https://evil.example",
    });
    expect(await errorOf(res)).toEqual({ status: 403, error: "csrf_refused" });
  });
});

describe("a session", () => {
  it("ends at sign-out: the cookie is cleared", async () => {
    const who = await signedIn();
    const res = await send(who, "/ops/console/sign-out", { method: "POST", form: { csrf: await csrfOf(who) } });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/ops/console/sign-in");
    expect(res.headers.get("set-cookie")).toMatch(
      /^__Host-notepipe-ops=; Max-Age=0; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    expect((await send(who, "/ops/console/dead-letters")).status).toBe(303);
  });

  it("expires 8 hours after sign-in", async () => {
    const who = await signedIn();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + SESSION_TTL_MS - 60_000);
    expect((await send(who, "/ops/console/dead-letters")).status).toBe(200);
    vi.setSystemTime(Date.now() + 61_000);
    expect((await send(who, "/ops/console/dead-letters")).status).toBe(303);
  });

  it("is refused when its cookie is forged: another signature, a later expiry, or no signature", async () => {
    const who = await signedIn();
    const [name, value] = (who.cookie as string).split("=") as [string, string];
    const [expires, id, tag] = value.split(".") as [string, string, string];
    const forgeries = [
      `${expires}.${id}.${tag.slice(0, -2)}${tag.endsWith("AA") ? "BA" : "AA"}`,
      `${Number(expires) + 3_600_000}.${id}.${tag}`,
      `${expires}.${id}`,
      "",
    ];
    for (const forged of forgeries) {
      const res = await send({ ...who, cookie: `${name}=${forged}` }, "/ops/console/dead-letters");
      expect(res.status).toBe(303);
    }
  });

  it("made from a token stops working once that token is removed from OPS_TOKENS", async () => {
    const who = await signedIn(TEST_OPS_TOKENS[1]);
    const rotated = envWith({ OPS_TOKENS: JSON.stringify([TEST_OPS_TOKENS[0]]) });
    expect((await send(who, "/ops/console/dead-letters", {}, rotated)).status).toBe(303);
    // The other token's sessions live on.
    const other = await signedIn(TEST_OPS_TOKENS[0]);
    expect((await send(other, "/ops/console/dead-letters", {}, rotated)).status).toBe(200);
  });
});

describe("every action", () => {
  const ACTIONS = [
    "/ops/console/dead-letters/replay",
    "/ops/console/dead-letters/discard",
    "/ops/console/sign-out",
  ] as const;

  it.each(ACTIONS)("POST %s without a session is 401 and does nothing", async (path) => {
    const note = makeNote();
    await deadLetterAsRejected([note]);
    const res = await send(browser(), path, { method: "POST", form: { scope: "selected", id: note.id } });
    expect(await errorOf(res)).toEqual({ status: 401, error: "unauthorized" });
    expect(await deadLetterOf(note.id)).not.toBeNull();
  });

  it.each(ACTIONS)(
    "POST %s is refused without the CSRF token, with another session's, or from another origin",
    async (path) => {
      const note = makeNote();
      await deadLetterAsRejected([note]);
      const who = await signedIn();
      const csrf = await csrfOf(who);
      const othersCsrf = await csrfOf(await signedIn());
      const form = { scope: "selected", id: note.id };
      const refusals = [
        await send(who, path, { method: "POST", form }),
        await send(who, path, { method: "POST", form: { ...form, csrf: othersCsrf } }),
        await send(who, path, { method: "POST", form: { ...form, csrf }, origin: "https://evil.example" }),
        await send(who, path, { method: "POST", form: { ...form, csrf }, origin: null }),
      ];
      for (const res of refusals) expect(await errorOf(res)).toEqual({ status: 403, error: "csrf_refused" });
      expect(await deadLetterOf(note.id)).not.toBeNull();
      // Still signed in: a refused form ends nothing.
      expect((await send(who, "/ops/console/dead-letters")).status).toBe(200);
    },
  );
});

describe("the dead letters page", () => {
  it("lists each entry with its recipient masked, and replays the ticked ones, leaving out the possibly sent unless ticked", async () => {
    const rejected = makeNote("jane.doe@example.com");
    const possiblySent = makeNote("sam.smith@example.com");
    await deadLetterAsRejected([rejected]);
    await deadLetterAsPossiblySent([possiblySent]);
    const { queue, batches } = recordingQueue();
    const environment = envWith({ NOTES_QUEUE: queue, NOTES_LARGE_QUEUE: queue });
    const who = await signedIn(TEST_OPS_TOKENS[0], environment);

    const page = await (await send(who, "/ops/console/dead-letters", {}, environment)).text();
    expect(page).toContain("j***@example.com");
    expect(page).toContain("s***@example.com");
    expect(page).not.toContain("jane.doe");

    const csrf = await csrfOf(who, environment);
    const res = await send(
      who,
      "/ops/console/dead-letters/replay",
      { method: "POST", form: { csrf, scope: "selected", id: [rejected.id, possiblySent.id] } },
      environment,
    );
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(
      "/ops/console/dead-letters?done=replay&replayed=1&skipped=1&failed=0&possiblySent=1",
    );
    const flash = await (await send(who, res.headers.get("location") as string, {}, environment)).text();
    expect(flash).toContain(
      "Replayed 1, skipped 1 (1 possibly sent already, left out: tick the box to include them), failed 0.",
    );
    expect(sentMessages(batches).map((message) => message.body.replayedAt !== undefined)).toEqual([true]);
    expect((await ledgerNote(rejected.id))?.state).toBe("queued");
    expect(await deadLetterOf(possiblySent.id)).not.toBeNull();

    await send(
      who,
      "/ops/console/dead-letters/replay",
      { method: "POST", form: { csrf, scope: "selected", id: possiblySent.id, includePossiblySent: "on" } },
      environment,
    );
    expect((await ledgerNote(possiblySent.id))?.state).toBe("queued");
  });

  it("shows a replay that takes several requests as n of m, with a button that goes on", async () => {
    // 1 MiB of frames per request: 18 frames of ~60 KB take two.
    const notes = Array.from({ length: 18 }, (_, i) => makeNote(`reader${i}@example.com`, 60_000));
    for (const note of notes) await deadLetterAsRejected([note]);
    const { queue, batches } = recordingQueue();
    const environment = envWith({ NOTES_QUEUE: queue, NOTES_LARGE_QUEUE: queue });
    const who = await signedIn(TEST_OPS_TOKENS[0], environment);
    const csrf = await csrfOf(who, environment);

    const first = await send(
      who,
      "/ops/console/dead-letters/replay",
      { method: "POST", form: { csrf, scope: "selected", id: notes.map((note) => note.id) } },
      environment,
    );
    expect(first.status).toBe(303);
    const progress = await (await send(who, first.headers.get("location") as string, {}, environment)).text();
    expect(progress).toContain("<strong>17 of 18 replayed</strong>");
    expect(progress).toContain("Continue the replay");

    const fields = [...progress.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)];
    const form: Record<string, string[]> = {};
    for (const [, name, value] of fields) form[name as string] = [...(form[name as string] ?? []), value as string];
    const last = await send(who, "/ops/console/dead-letters/replay", { method: "POST", form }, environment);
    expect(last.headers.get("location")).toBe(
      "/ops/console/dead-letters?done=replay&replayed=18&skipped=0&failed=0&possiblySent=0",
    );
    expect(sentMessages(batches)).toHaveLength(18);
  });

  it("discards the ticked entries", async () => {
    const notes = makeNotes(2);
    await deadLetterAsRejected(notes);
    const who = await signedIn();
    const res = await send(who, "/ops/console/dead-letters/discard", {
      method: "POST",
      form: { csrf: await csrfOf(who), id: notes.map((note) => note.id) },
    });
    expect(res.headers.get("location")).toBe("/ops/console/dead-letters?done=discard&discarded=2&inQueue=0&notFound=0");
    for (const note of notes) {
      expect(await deadLetterOf(note.id)).toBeNull();
      expect((await ledgerNote(note.id))?.state).toBe("failed");
    }
  });
});

describe("the overview", () => {
  it("draws what the ledger's overview() answers: the day's counts, a chart per series, the dead letters by reason", async () => {
    mockProvider(resendAccepted);
    await runQueue(
      "notes",
      makeNotes(3).map((note) => messageOf(note)),
    );
    await deadLetterAsRejected([makeNote()]);
    const overview = await ledger().overview();
    const who = await signedIn();

    const res = await send(who, "/ops/");
    expect(res.status).toBe(200);
    const page = await res.text();
    const day = (name: "accepted" | "sent") => overview.perMinute.reduce((sum, point) => sum + point[name], 0);
    expect(page).toContain(`data-total="accepted">${day("accepted")}</td>`);
    expect(page).toContain(`data-total="sent">${day("sent")}</td>`);
    for (const name of ["accepted", "sent", "delivered", "failed"]) {
      expect(page.match(new RegExp(`<path d="M0 \\d+[HV\\d]*H720" [^>]*data-series="${name}"`, "g"))).toHaveLength(2);
    }
    const rejected = overview.deadLetters.find((entry) => entry.reason === "rejected")?.count;
    expect(page).toContain(`data-dead="rejected">${rejected}</td>`);
  });
  it("shows each listed provider's circuit in order: one opened by a spent quota, why and when it is probed, the other closed and taking new batches", async () => {
    const failover = envWith({
      MAIL_PROVIDERS: "resend,postmark",
      MAIL_API_KEY_POSTMARK: "pm-test-token-never-logged",
      MAIL_API_URL_POSTMARK: "https://postmark.test",
    } as unknown as Partial<Env>);
    const postmarkAccepted = (request: SeenRequest) =>
      Response.json((request.body as unknown[]).map((_, i) => ({ ErrorCode: 0, Message: "OK", MessageID: `pm_${i}` })));
    const seen = mockProvider(
      resendError(429, "daily_quota_exceeded", "You have reached your daily email sending quota."),
      postmarkAccepted,
    );
    // The switch and the pipeline failure are logged; that is not what this page shows.
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "error").mockImplementation(() => {});
    await runQueue("notes", [messageOf(makeNote())], failover);
    await runQueue("notes", [messageOf(makeNote())], failover);
    expect(seen.map((request) => new URL(request.url).host)).toEqual(["mail.test", "postmark.test"]);
    const who = await signedIn(TEST_OPS_TOKENS[0], failover);

    const page = await (await send(who, "/ops/", {}, failover)).text();
    expect(page).toContain("<h2>Providers</h2>");
    expect(page).toContain("New batches go to <strong>postmark</strong>.");
    const resend = /<tr data-circuit="resend">(.*?)<\/tr>/.exec(page)?.[1];
    expect(resend).toMatch(
      /^<th>resend<\/th><td data-state="open">open<\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/td><td><code>quota_exceeded<\/code><\/td><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in \d+ s<\/td>/,
    );
    const postmark = /<tr data-circuit="postmark">(.*?)<\/tr>/.exec(page)?.[1];
    expect(postmark).toMatch(
      /^<th>postmark \(new batches\)<\/th><td data-state="closed">closed<\/td><td>—<\/td><td>—<\/td><td>—<\/td>/,
    );
    expect(page.indexOf('data-circuit="resend"')).toBeLessThan(page.indexOf('data-circuit="postmark"'));
  });

  it("says in one line that the only provider listed has no failover", async () => {
    const who = await signedIn();
    const page = await (await send(who, "/ops/")).text();
    const section = page.slice(page.indexOf("<h2>Providers</h2>"), page.indexOf("<h2>Free plan"));
    expect(section).toBe(
      '<h2>Providers</h2>\n<p data-providers="1">All mail goes through <strong>resend</strong>, the only provider listed: no failover.</p>\n',
    );
  });
});

describe("a note's page", () => {
  it("shows its timeline with the address masked and nothing of its content", async () => {
    const note = makeNote("jane.doe@example.com");
    await deadLetterAsRejected([note]);
    const who = await signedIn();

    const found = await send(who, `/ops/console/notes?id=${encodeURIComponent(` ${note.id.toUpperCase()} `)}`);
    expect(found.headers.get("location")).toBe(`/ops/console/notes/${note.id}`);
    const res = await send(who, `/ops/console/notes/${note.id}`);
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain("j***@example.com");
    expect(page).toContain("refused: a dead letter");
    expect(page).toContain("rejected");
    for (const secret of ["jane.doe", note.nonce.toBase64(), note.ciphertext.toBase64(), note.frame.toBase64()]) {
      expect(page).not.toContain(secret);
    }
  });

  it("is 404 for a note the ledger does not know, and 400 JSON for what is no note id", async () => {
    const who = await signedIn();
    expect((await send(who, "/ops/console/notes/3b241101-e2bb-4255-8caf-4136c566a962")).status).toBe(404);
    expect(await errorOf(await send(who, "/ops/console/notes?id=not-an-id"))).toEqual({
      status: 400,
      error: "bad_request",
    });
  });
});
