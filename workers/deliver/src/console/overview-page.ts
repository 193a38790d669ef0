/**
 * The console's first page: what the ledger's `overview()` answers in one call, drawn. The alerts
 * firing first, then the last day's counts and their charts per minute (24 h) and per hour (7 days),
 * the time from accepted to sent, the provider's answers by class, the backlog, the dead letters by
 * reason (each a link to that filter), the providers' circuits and the Free plan's daily quotas
 * against their limits.
 */

import type { Context } from "hono";
import { html } from "hono/html";
import { readConfig } from "../config.ts";
import { ANSWER_CLASSES, type AnswerClass, type Overview, type SeriesPoint } from "../ledger/overview-types.ts";
import type { CircuitStat } from "../ledger/types.ts";
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
  const read = readConfig(c.env);
  const listed = read.ok ? { names: read.config.providers.map(({ provider }) => provider.name) } : read;
  return respond(c, page("Overview", c.get("csrf"), overviewBody(overview, listed)));
}

/** `HH:MM` of a minute, `MM-DD HH:00` of an hour, in UTC. */
const minuteLabel = (at: number) => `${new Date(at).toISOString().slice(11, 16)} UTC`;
const hourLabel = (at: number) => `${new Date(at).toISOString().slice(5, 13).replace("T", " ")}:00 UTC`;

/**
 * The providers `MAIL_PROVIDERS` lists, in order (the ledger keeps only the circuits' rows, by
 * name), or why the settings could not be read.
 */
export type ListedProviders = { names: readonly string[] } | { problem: string };

export function overviewBody(overview: Overview, listed: ListedProviders): Html {
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
<h2>Providers</h2>
${providersSection(listed, overview.circuits ?? [], overview.now)}
<h2>Free plan, today (UTC)</h2>
<table><tbody>${overview.quotas.map(
    (quota) =>
      html`<tr><th>${quota.name}</th><td class="num">${quota.used} of ${quota.limit}</td><td><meter min="0" max="${quota.limit}" low="${quota.limit * 0.6}" high="${quota.limit * 0.8}" optimum="0" value="${Math.min(quota.used, quota.limit)}">${percent(quota.used, quota.limit)}</meter></td><td class="num">${percent(quota.used, quota.limit)}</td></tr>`,
  )}</tbody></table>
<p>As of ${utc(overview.now)}.</p>`;
}

const STATE_LABELS: Record<CircuitStat["state"], string> = {
  closed: "closed",
  open: "open",
  half_open: "half-open, probing",
};

/**
 * Where new batches go and each listed provider's circuit, as `pnpm ops stats` prints them. One
 * line for a list of one, which keeps no circuit. A listed provider without a row has never failed
 * since failover began: closed. Rows of providers no longer listed are left out; the ledger never
 * removes them.
 */
function providersSection(listed: ListedProviders, circuits: readonly CircuitStat[], now: number): Html {
  if ("problem" in listed) {
    return html`<p class="note bad" data-providers="invalid">Nothing is sent: ${listed.problem}</p>`;
  }
  const { names } = listed;
  if (names.length < 2) {
    return html`<p data-providers="1">All mail goes through <strong>${names[0]}</strong>, the only provider listed: no failover.</p>`;
  }
  const byName = new Map(circuits.map((circuit) => [circuit.provider, circuit]));
  const routed = names.find((name) => byName.get(name)?.routed === true);
  const rows = names.map(
    (name) => byName.get(name) ?? { provider: name, state: "closed" as const, routed: false, switches: 0 },
  );
  return html`<p data-routed="${routed ?? ""}">${
    routed === undefined
      ? "No batch has gone out since failover began: the next goes to the first listed provider whose circuit is closed."
      : html`New batches go to <strong>${routed}</strong>.`
  }</p>
<table><thead><tr><th>provider</th><th>circuit</th><th>since</th><th>opened by</th><th>next probe</th><th class="num">switched to</th></tr></thead>
<tbody>${rows.map(
    (circuit) =>
      html`<tr data-circuit="${circuit.provider}"><th>${circuit.provider}${circuit.routed ? " (new batches)" : ""}</th><td data-state="${circuit.state}">${STATE_LABELS[circuit.state]}</td><td>${circuit.openedAt === undefined ? "—" : utc(Date.parse(circuit.openedAt))}</td><td>${circuit.reason === undefined ? "—" : html`<code>${circuit.reason}</code>`}</td><td>${nextProbe(circuit, now)}</td><td class="num">${circuit.switches}</td></tr>`,
  )}</tbody></table>`;
}

/**
 * An open circuit's probe, due or to come (the next batch routed to it is the probe); a half-open
 * one's, under way until its lease ends.
 */
function nextProbe(circuit: CircuitStat, now: number): string {
  if (circuit.probeAt === undefined) return "—";
  const at = Date.parse(circuit.probeAt);
  if (circuit.state === "half_open") return `under way, held until ${utc(at)}`;
  return at <= now ? "due now" : `${utc(at)}, in ${duration(at - now)}`;
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
