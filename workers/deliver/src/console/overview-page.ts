/**
 * The console's first page: what the ledger's `overview()` answers in one call, drawn. The alerts
 * firing first, then the last day's counts and their charts per minute (24 h) and per hour (7 days),
 * the time from accepted to sent, the provider's answers by class, the backlog, the dead letters by
 * reason (each a link to that filter) and the Free plan's daily quotas against their limits.
 */

import type { Context } from "hono";
import { html } from "hono/html";
import { ANSWER_CLASSES, type AnswerClass, type Overview, type SeriesPoint } from "../ledger/overview-types.ts";
import { readOverview } from "../ops/dead-letters.ts";
import { SERIES, stepChart } from "./chart.ts";
import type { ConsoleEnv } from "./guard.ts";
import { duration, type Html, page, respond, utc } from "./layout.ts";
import { PATHS } from "./paths.ts";

const ANSWER_LABELS: Record<AnswerClass, string> = {
  ok: "2xx",
  throttled: "429",
  server_error: "5xx",
  refused: "refused",
  no_answer: "no answer",
};

export async function showOverview(c: Context<ConsoleEnv>): Promise<Response> {
  const overview = await readOverview(c.env);
  return respond(c, page("Overview", c.get("csrf"), overviewBody(overview)));
}

/** `HH:MM` of a minute, `MM-DD HH:00` of an hour, in UTC. */
const minuteLabel = (at: number) => `${new Date(at).toISOString().slice(11, 16)} UTC`;
const hourLabel = (at: number) => `${new Date(at).toISOString().slice(5, 13).replace("T", " ")}:00 UTC`;

export function overviewBody(overview: Overview): Html {
  const day = totals(overview.perMinute);
  const answered = ANSWER_CLASSES.reduce((sum, name) => sum + overview.answers[name], 0);
  const { waiting, oldestAcceptedAt } = overview.backlog;
  return html`${
    overview.alerts.length === 0
      ? html`<p class="note" role="status">No alert is firing.</p>`
      : overview.alerts.map(
          (alert) =>
            html`<p class="note bad" role="alert" data-alert="${alert.kind}"><strong>${alert.kind}</strong> since ${utc(alert.since)}: ${alert.message}</p>`,
        )
  }
<h2>Last 24 hours</h2>
<table><tbody><tr>${SERIES.map(({ name }) => html`<th>${name}</th>`)}</tr>
<tr>${SERIES.map(({ name }) => html`<td class="num" data-total="${name}">${day[name]}</td>`)}</tr></tbody></table>
${stepChart("Notes per minute, last 24 hours", overview.perMinute, minuteLabel)}
${stepChart("Notes per hour, last 7 days", overview.perHour, hourLabel)}
<h2>Time from accepted to sent (24 h)</h2>
<p>p50 <strong>${overview.latency.p50Ms === null ? "—" : duration(overview.latency.p50Ms)}</strong>,
p99 <strong>${overview.latency.p99Ms === null ? "—" : duration(overview.latency.p99Ms)}</strong></p>
<h2>Provider answers (24 h)</h2>
<table><tbody>${ANSWER_CLASSES.map(
    (name) =>
      html`<tr><th>${ANSWER_LABELS[name]}</th><td class="num" data-answers="${name}">${overview.answers[name]}</td><td class="num">${percent(overview.answers[name], answered)}</td></tr>`,
  )}</tbody></table>
<h2>Backlog</h2>
<p data-backlog="${waiting}">${
    waiting === 0 || oldestAcceptedAt === null
      ? "Nothing is waiting to be sent."
      : `${waiting} note(s) waiting; the oldest was accepted ${utc(oldestAcceptedAt)}, ${duration(overview.now - oldestAcceptedAt)} ago.`
  }</p>
<h2>Dead letters</h2>
${
  overview.deadLetters.length === 0
    ? html`<p>None.</p>`
    : html`<table><tbody>${overview.deadLetters.map(
        ({ reason, count }) =>
          html`<tr><th><a href="${PATHS.deadLetters}?reason=${reason}">${reason}</a></th><td class="num" data-dead="${reason}">${count}</td></tr>`,
      )}</tbody></table>`
}
<h2>Free plan, today (UTC)</h2>
<table><tbody>${overview.quotas.map(
    (quota) =>
      html`<tr><th>${quota.name}</th><td class="num">${quota.used} of ${quota.limit}</td><td><meter min="0" max="${quota.limit}" low="${quota.limit * 0.6}" high="${quota.limit * 0.8}" optimum="0" value="${Math.min(quota.used, quota.limit)}">${percent(quota.used, quota.limit)}</meter></td><td class="num">${percent(quota.used, quota.limit)}</td></tr>`,
  )}</tbody></table>
<p>As of ${utc(overview.now)}.</p>`;
}

function totals(points: readonly SeriesPoint[]): Record<(typeof SERIES)[number]["name"], number> {
  const sums = { accepted: 0, sent: 0, delivered: 0, failed: 0 };
  for (const point of points) {
    sums.accepted += point.accepted;
    sums.sent += point.sent;
    sums.delivered += point.delivered;
    sums.failed += point.failed;
  }
  return sums;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? "—" : `${Math.round((part / whole) * 100)} %`;
}
