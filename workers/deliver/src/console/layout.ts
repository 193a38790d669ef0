/**
 * The console's page shell: one stylesheet of a few lines (readable on a phone's screen, tables
 * that scroll sideways rather than overflow), the navigation, and the headers every page carries.
 * No script anywhere: every table and action is a link or an HTML form (POST, then a redirect).
 */

import type { Context } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { PATHS } from "./paths.ts";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1f;background:#fafafa}
header{display:flex;flex-wrap:wrap;gap:.4em 1.2em;align-items:center;padding:.6em 1em;background:#1f2937;color:#fff}
header a{color:#fff}header form{margin-left:auto}
main{padding:.5em 1em 2em;max-width:70em}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums}
.note{padding:.5em .8em;border-left:4px solid #2563eb;background:#eef4ff}
.warn{border-color:#b45309;background:#fff7e6}.bad{border-color:#b91c1c;background:#fdecec}
input,select,button{font:inherit;padding:.3em .5em;margin:.15em 0}
form.inline{display:inline}
svg{max-width:100%;height:auto}
code{font-size:.9em}
`;

/** No script may run, and no other site may frame a page or receive a form. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "cache-control": "no-store",
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
} as const;

/** A hidden field with the session's CSRF token, for every form that changes something. */
export function csrfField(csrf: string): Html {
  return html`<input type="hidden" name="csrf" value="${csrf}" />`;
}

/** A page for a signed-in operator: the navigation, the note finder, sign-out. */
export function page(title: string, csrf: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${title} · notepipe ops</title><style>${STYLE}</style></head>
<body>
<header><strong>notepipe ops</strong>
<a href="${PATHS.overview}">Overview</a><a href="${PATHS.deadLetters}">Dead letters</a>
<form method="get" action="${PATHS.notes}" class="inline"><input name="id" placeholder="note id" size="14" aria-label="note id" required /> <button>Find</button></form>
<form method="post" action="${PATHS.signOut}" class="inline">${csrfField(csrf)}<button>Sign out</button></form>
</header>
<main><h1>${title}</h1>${body}</main>
</body></html>`;
}

/** A page for someone not signed in. */
export function bareDocument(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8" /><meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${title} · notepipe ops</title><style>${STYLE}</style></head>
<body><header><strong>notepipe ops</strong></header><main><h1>${title}</h1>${body}</main></body></html>`;
}

/** The HTML answer with the console's headers. */
export function respond(c: Context, body: Html, status: 200 | 401 | 404 | 429 = 200): Response | Promise<Response> {
  return c.html(body, status, SECURITY_HEADERS);
}

/** POST, then this: the browser asks for `location` with GET, so a reload repeats nothing. */
export function seeOther(c: Context, location: string): Response {
  return c.body(null, 303, { ...SECURITY_HEADERS, location });
}

/** A time as the console shows it: UTC, to the second. */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** A duration in the largest unit that reads well: "850 ms", "42 s", "7 min", "3.5 h". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}
