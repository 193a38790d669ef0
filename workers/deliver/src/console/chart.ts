/**
 * A step chart of counted buckets, drawn as SVG by hand: a bucket is a count over its minute or
 * hour, so a flat step per bucket says what the data says. A run of equal counts is one path
 * segment, so a quiet day of 1,440 minutes is a few dozen bytes rather than 1,440 points; a
 * chart library would ship script to the browser for what a path does.
 */

import { html } from "hono/html";
import type { SeriesPoint } from "../ledger/overview-types.ts";
import type { Html } from "./layout.ts";

export type SeriesName = Exclude<keyof SeriesPoint, "at">;

/** Colours that stay apart for the common forms of colour blindness (Okabe and Ito's palette). */
export const SERIES: readonly { name: SeriesName; colour: string }[] = [
  { name: "accepted", colour: "#0072b2" },
  { name: "sent", colour: "#009e73" },
  { name: "delivered", colour: "#cc79a7" },
  { name: "failed", colour: "#d55e00" },
];

const WIDTH = 720;
const HEIGHT = 160;
const TOP = 14;
const BOTTOM = 18;

/** The SVG path of one series: a horizontal step per bucket, one segment per run of equal counts. */
function stepPath(points: readonly SeriesPoint[], name: SeriesName, max: number): string {
  const plot = HEIGHT - TOP - BOTTOM;
  const step = WIDTH / Math.max(1, points.length);
  const y = (value: number) => Math.round(TOP + plot - (value / max) * plot);
  let last = y(points[0]?.[name] ?? 0);
  let path = `M0 ${last}`;
  for (let i = 1; i < points.length; i++) {
    const next = y((points[i] as SeriesPoint)[name]);
    if (next !== last) {
      path += `H${Math.round(i * step)}V${next}`;
      last = next;
    }
  }
  return `${path}H${WIDTH}`;
}

/**
 * A chart of `points` (oldest first), one line per series, with its largest count and its time span.
 *
 * @example
 * stepChart("Per minute, last 24 hours", overview.perMinute, (at) => utc(at));
 */
export function stepChart(title: string, points: readonly SeriesPoint[], label: (at: number) => string): Html {
  let max = 1;
  for (const point of points) for (const { name } of SERIES) if (point[name] > max) max = point[name];
  const first = points[0];
  const last = points.at(-1);
  return html`<figure><figcaption>${title}</figcaption>
<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${title}">
<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#fff" stroke="#ddd" />
<text x="4" y="11" font-size="10">${max}</text>
<text x="4" y="${HEIGHT - 5}" font-size="10">${first === undefined ? "" : label(first.at)}</text>
<text x="${WIDTH - 4}" y="${HEIGHT - 5}" font-size="10" text-anchor="end">${last === undefined ? "" : label(last.at)}</text>
${SERIES.map(
  ({ name, colour }) =>
    html`<path d="${stepPath(points, name, max)}" fill="none" stroke="${colour}" stroke-width="1.5" data-series="${name}" />`,
)}
</svg>
<div>${SERIES.map(({ name, colour }) => html`<span style="color:${colour}">■</span> ${name} `)}</div>
</figure>`;
}
