/**
 * The dead letters, as an operator works through them: filtered by reason and by when they last
 * failed, a page of 50 with a box to tick per entry, and three actions: replay the ticked, discard
 * the ticked, replay every entry the filter matches. Entries the provider may already have sent
 * are left out of a replay unless the operator ticks the box that says so, and the result counts
 * them. A replay that takes several requests (200 entries or 1 MiB of frames each, as the ops
 * API's) shows how far it got and a button that goes on: no script, each step a POST and a redirect.
 */

import { DELIVERY_ERROR_CODES, type DeadLetterView, type ReplayAnswer, type ReplayRequest } from "@notepipe/pipeline";
import type { Context } from "hono";
import { html } from "hono/html";
import * as z from "zod/mini";
import { parseWith } from "../http/body.ts";
import { deadLetterId } from "../ops/dead-letter-id.ts";
import { discardDeadLetter, listDeadLetters, readStats } from "../ops/dead-letters.ts";
import { deadLetterView } from "../ops/list-dead-letters.ts";
import { replay } from "../ops/replay-dead-letters.ts";
import type { ConsoleEnv } from "./guard.ts";
import { csrfField, type Html, page, respond, seeOther, utc } from "./layout.ts";
import { notePath, PATHS } from "./paths.ts";

const PAGE_SIZE = 50;
/** Ticked boxes a form may carry: two pages' worth, and one ledger call per discard. */
const MAX_TICKED = 100;

const WINDOWS = { hour: 3_600_000, day: 86_400_000, week: 604_800_000 } as const;
const WINDOW_LABELS: Record<keyof typeof WINDOWS | "", string> = {
  "": "any time",
  hour: "the last hour",
  day: "the last 24 hours",
  week: "the last 7 days",
};

const filterQuery = z.object({
  reason: z.optional(z.enum(DELIVERY_ERROR_CODES)),
  window: z.optional(z.enum(["hour", "day", "week"])),
  cursor: z.optional(deadLetterId),
});

const count = z.coerce.number().check(z.int(), z.minimum(0));

/** A replay's state between its requests, in the progress page's form and URL. */
const replayState = z.object({
  scope: z.enum(["selected", "filter"]),
  id: z.array(deadLetterId).check(z.maxLength(1000)),
  reason: z.optional(z.enum(DELIVERY_ERROR_CODES)),
  since: z.optional(z.iso.datetime()),
  cursor: z.optional(deadLetterId),
  includePossiblySent: z.optional(z.literal("on")),
  replayed: z._default(count, 0),
  skipped: z._default(count, 0),
  failed: z._default(count, 0),
  possiblySent: z._default(count, 0),
  /** How many the replay set out to handle, when known (the ticked count, or the filter's count). */
  total: z.optional(count),
});
type ReplayState = z.output<typeof replayState>;

/** A form's or query's fields as zod reads them: `id` always a list, empty strings left out. */
function fieldsOf(params: URLSearchParams): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = { id: params.getAll("id") };
  for (const [name, value] of params) if (name !== "id" && value !== "") fields[name] = value;
  return fields;
}

export async function showDeadLetters(c: Context<ConsoleEnv>): Promise<Response> {
  const query = parseWith(filterQuery, fieldsOf(new URL(c.req.url).searchParams), "query");
  const since = query.window === undefined ? undefined : Date.now() - WINDOWS[query.window];
  const [listing, stats] = await Promise.all([
    listDeadLetters(c.env, { reason: query.reason, since }, query.cursor ?? null, PAGE_SIZE),
    readStats(c.env),
  ]);
  const entries = listing.deadLetters.map(deadLetterView);
  const matching =
    query.reason === undefined ? stats.deadLetters.total : (stats.deadLetters.byReason[query.reason] ?? 0);
  const csrf = c.get("csrf");
  const nextPage = new URLSearchParams();
  if (query.reason !== undefined) nextPage.set("reason", query.reason);
  if (query.window !== undefined) nextPage.set("window", query.window);
  if (listing.cursor !== null) nextPage.set("cursor", listing.cursor);

  const body = html`${flashOf(new URL(c.req.url).searchParams)}
<p>${stats.deadLetters.total} dead letter(s) kept (30 days each), ${stats.deadLetters.possiblySent} of them possibly sent already.</p>
<form method="get" action="${PATHS.deadLetters}">
<label>Reason <select name="reason"><option value="">any</option>${DELIVERY_ERROR_CODES.map(
    (code) =>
      html`<option value="${code}" ${code === query.reason ? "selected" : ""}>${code} (${stats.deadLetters.byReason[code] ?? 0})</option>`,
  )}</select></label>
<label>Last failed in <select name="window">${Object.entries(WINDOW_LABELS).map(
    ([value, label]) =>
      html`<option value="${value}" ${value === (query.window ?? "") ? "selected" : ""}>${label}</option>`,
  )}</select></label>
<button>Filter</button>
</form>
<form method="post" action="${PATHS.replay}">${csrfField(csrf)}
<input type="hidden" name="reason" value="${query.reason ?? ""}" />
${since === undefined ? "" : html`<input type="hidden" name="since" value="${new Date(since).toISOString()}" />`}
<table>
<thead><tr><th></th><th>note</th><th>reason</th><th class="num">attempts</th><th>last failure</th><th>to</th><th>possibly sent</th></tr></thead>
<tbody>${entries.length === 0 ? html`<tr><td colspan="7">No dead letter matches.</td></tr>` : entries.map(row)}</tbody>
</table>
${listing.cursor === null ? "" : html`<p><a href="${PATHS.deadLetters}?${nextPage.toString()}">Next ${PAGE_SIZE} →</a></p>`}
<p><label><input type="checkbox" name="includePossiblySent" /> Also replay the entries the provider may already have sent: their readers may get the email twice. Left unticked, they are left out and counted.</label></p>
<p><button name="scope" value="selected">Replay ticked</button>
<button name="scope" value="selected" formaction="${PATHS.discard}">Discard ticked</button>
<button name="scope" value="filter">Replay all ${matching === 0 ? "" : `${matching} `}matching${since === undefined ? "" : " (last failed since the filter's start)"}</button></p>
</form>`;
  return respond(c, page("Dead letters", csrf, body));
}

function row(entry: DeadLetterView): Html {
  return html`<tr>
<td><input type="checkbox" name="id" value="${entry.id}" aria-label="select ${entry.id}" /></td>
<td><a href="${notePath(entry.id)}"><code>${entry.id.slice(0, 8)}…</code></a></td>
<td title="${entry.message}">${entry.reason}</td><td class="num">${entry.attempts}</td>
<td>${utc(Date.parse(entry.lastFailureAt))}</td><td>${entry.recipient ?? "—"}</td>
<td>${entry.possiblySent ? "yes" : ""}</td></tr>`;
}

/** What the last action did, from the redirect's query. */
function flashOf(params: URLSearchParams): Html | string {
  const done = params.get("done");
  const n = (name: string) => Number(params.get(name) ?? 0) || 0;
  if (done === "replay") {
    const possiblySent = n("possiblySent");
    return html`<p class="note" role="status">Replayed ${n("replayed")}, skipped ${n("skipped")}${
      possiblySent > 0 ? ` (${possiblySent} possibly sent already, left out: tick the box to include them)` : ""
    }, failed ${n("failed")}. Replayed notes go back on the queue and are sent within seconds.</p>`;
  }
  if (done === "discard") {
    return html`<p class="note" role="status">Discarded ${n("discarded")}${
      n("inQueue") > 0 ? `; ${n("inQueue")} are back in the queue and can no longer be discarded` : ""
    }${n("notFound") > 0 ? `; ${n("notFound")} were no longer dead letters` : ""}.</p>`;
  }
  return "";
}

/** POST: one request's share of a replay, then the progress page, or the list once it is done. */
export async function replayStep(c: Context<ConsoleEnv>): Promise<Response> {
  const state = parseWith(replayState, fieldsOf(c.get("form")), "form");
  if (state.scope === "selected" && state.id.length === 0) {
    return seeOther(c, `${PATHS.deadLetters}?done=replay`);
  }
  if (state.total === undefined) state.total = await totalOf(c.env, state);
  const includePossiblySent = state.includePossiblySent === "on";
  const request: ReplayRequest =
    state.scope === "selected"
      ? { ids: state.id, includePossiblySent }
      : {
          ...(state.reason === undefined && state.since === undefined ? { all: true as const } : {}),
          ...(state.reason === undefined ? {} : { reason: state.reason }),
          ...(state.since === undefined ? {} : { since: state.since }),
          ...(state.cursor === undefined ? {} : { cursor: state.cursor }),
          includePossiblySent,
        };
  const answer = await replay(c.env, request);
  const next = advance(state, answer);
  const more = next.scope === "selected" ? next.id.length > 0 : next.cursor !== undefined;
  const query = new URLSearchParams({
    replayed: String(next.replayed),
    skipped: String(next.skipped),
    failed: String(next.failed),
    possiblySent: String(next.possiblySent),
  });
  if (!more) return seeOther(c, `${PATHS.deadLetters}?done=replay&${query.toString()}`);
  return seeOther(c, `${PATHS.replay}?${stateQuery(next).toString()}`);
}

/** The counts so far and where the next request goes on. */
function advance(state: ReplayState, answer: ReplayAnswer): ReplayState {
  return {
    ...state,
    id: answer.remaining ?? [],
    cursor: answer.cursor ?? undefined,
    replayed: state.replayed + answer.replayed,
    skipped: state.skipped + answer.skipped,
    failed: state.failed + answer.failed,
    possiblySent: state.possiblySent + answer.skippedPossiblySent,
  };
}

/** The ticked count, or the filter's count when the ledger's counters know it (no time filter). */
async function totalOf(env: Env, state: ReplayState): Promise<number | undefined> {
  if (state.scope === "selected") return state.id.length;
  if (state.since !== undefined) return undefined;
  const stats = await readStats(env);
  return state.reason === undefined ? stats.deadLetters.total : (stats.deadLetters.byReason[state.reason] ?? 0);
}

function stateQuery(state: ReplayState): URLSearchParams {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(state)) {
    if (name === "id") for (const id of state.id) query.append("id", id);
    else if (value !== undefined) query.set(name, String(value));
  }
  return query;
}

/** GET: how far a replay got, and the button that goes on with it. */
export function showReplayProgress(c: Context<ConsoleEnv>): Response | Promise<Response> {
  const state = parseWith(replayState, fieldsOf(new URL(c.req.url).searchParams), "query");
  const handled = state.replayed + state.skipped + state.failed;
  const csrf = c.get("csrf");
  const body = html`<p class="note" role="status"><strong>${state.replayed} of ${state.total ?? "the matching"} replayed</strong>
(${handled} handled: ${state.skipped} skipped${state.possiblySent > 0 ? `, ${state.possiblySent} of them possibly sent already and left out` : ""}, ${state.failed} failed).</p>
<p>Each step replays at most 200 entries or 1 MiB of frames. Go on when ready:</p>
<form method="post" action="${PATHS.replay}">${csrfField(csrf)}${[...stateQuery(state)].map(
    ([name, value]) => html`<input type="hidden" name="${name}" value="${value}" />`,
  )}<button>Continue the replay</button></form>`;
  return respond(c, page("Replaying dead letters", csrf, body));
}

/** POST: discards each ticked entry (one ledger call each), then back to the list. */
export async function discardTicked(c: Context<ConsoleEnv>): Promise<Response> {
  const ids = parseWith(z.array(deadLetterId).check(z.maxLength(MAX_TICKED)), c.get("form").getAll("id"), "id");
  const counts = { discarded: 0, inQueue: 0, notFound: 0 };
  for (const id of ids) {
    const result = await discardDeadLetter(c.env, id);
    if (result.kind === "discarded") counts.discarded++;
    else if (result.kind === "in_queue") counts.inQueue++;
    else counts.notFound++;
  }
  const query = new URLSearchParams({
    done: "discard",
    ...Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, String(v)])),
  });
  return seeOther(c, `${PATHS.deadLetters}?${query.toString()}`);
}
