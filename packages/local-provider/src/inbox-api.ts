/**
 * What arrived: `GET /inbox` (JSON, filters `note_id`, `to`, `provider`), `DELETE /inbox`, and `GET /`,
 * a small HTML page for a person. CORS is open on `/inbox` so that a browser demo served from
 * another port can read the mail it sent.
 */

import { Hono } from "hono";
import { cors } from "hono/cors";
import { html } from "hono/html";
import { z } from "zod";
import { ProviderError } from "./errors.ts";
import type { InboxEmail } from "./inbox.ts";
import type { ProviderEnv, ProviderState } from "./state.ts";

const filterSchema = z.strictObject({
  note_id: z.string().optional(),
  to: z.string().optional(),
  provider: z.enum(["resend", "postmark"]).optional(),
});

/** The page shows the newest emails only; `GET /inbox` has them all. */
const PAGE_EMAILS = 200;
const PREVIEW_CHARS = 60;

function page(state: ProviderState) {
  const emails = state.inbox.list().slice(-PAGE_EMAILS).reverse();
  const row = (email: InboxEmail) => html`<tr>
      <td>${email.receivedAt}</td>
      <td>${email.provider}</td>
      <td>${email.to.join(", ")}</td>
      <td>${email.subject}</td>
      <td><code>${email.noteId ?? "—"}</code></td>
      <td><code>${(email.text ?? email.html ?? "").slice(0, PREVIEW_CHARS)}</code></td>
    </tr>`;
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta http-equiv="refresh" content="5" />
    <title>notepipe local provider ${state.name}</title>
    <style>
      body { font: 14px system-ui, sans-serif; margin: 2rem; }
      table { border-collapse: collapse; width: 100%; }
      th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
      code { font-size: 12px; }
    </style>
  </head>
  <body>
    <h1>notepipe local provider <code>${state.name}</code></h1>
    <p>
      ${state.inbox.size} email(s) received, ${state.stats.requests} send request(s).
      JSON: <a href="/inbox">/inbox</a>, counters: <a href="/_control/stats">/_control/stats</a>. Refreshes every 5 s.
    </p>
    <table>
      <thead><tr><th>received</th><th>provider</th><th>to</th><th>subject</th><th>note id</th><th>text</th></tr></thead>
      <tbody>${emails.map(row)}</tbody>
    </table>
  </body>
</html>`;
}

export function inboxApi(state: ProviderState): Hono<ProviderEnv> {
  const api = new Hono<ProviderEnv>();
  api.use("/inbox", async (c, next) => {
    c.set("api", "control");
    await next();
  });
  api.use("/inbox", cors());

  api.get("/inbox", (c) => {
    const filter = filterSchema.safeParse(c.req.query());
    if (!filter.success) {
      throw new ProviderError("bad_request", "Filter with note_id, to or provider (resend | postmark) only.");
    }
    const { note_id, to, provider } = filter.data;
    const emails = state.inbox.list({ noteId: note_id, to, provider });
    return c.json({ count: emails.length, emails });
  });

  api.delete("/inbox", (c) => {
    const deleted = state.inbox.size;
    state.inbox.clear();
    return c.json({ deleted });
  });

  api.get("/", (c) => c.html(page(state)));

  return api;
}
