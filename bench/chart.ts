/**
 * The chart in docs/BENCHMARKS.md: CPU per request by note size, one bar per configuration, as a
 * hand-written SVG (grouped bars need no library).
 */

import type { CpuConfig } from "./targets.ts";
import { type CpuResults, cpuCell, cpuSizes } from "./workerd-cpu.ts";

const SERIES: { config: CpuConfig; label: string; color: string }[] = [
  { config: "bare", label: "bare", color: "#9aa5b1" },
  { config: "contract", label: "contract floor", color: "#c1c9d2" },
  { config: "ingest-stubbed", label: "ingest, stubbed", color: "#7cc4fa" },
  { config: "bindings", label: "bare + bindings", color: "#f0b429" },
  { config: "ingest", label: "ingest", color: "#2680c2" },
  { config: "naive", label: "naive relay", color: "#d64545" },
];

export function cpuChartSvg(cpu: CpuResults): string {
  const sizes = cpuSizes(cpu);
  const width = 760;
  const height = 380;
  const left = 64;
  const right = 20;
  const top = 56;
  const bottom = 56;
  const plotHeight = height - top - bottom;
  const values = cpu.cells.filter((c) => c.failure === undefined).map((c) => c.cpuMsPerRequest);
  const max = Math.max(0.1, ...values);
  // A round axis top: 1, 2 or 5 times a power of ten, at or above the largest bar.
  const magnitude = 10 ** Math.floor(Math.log10(max));
  const axisMax = ([1, 2, 5, 10].find((m) => m * magnitude >= max) ?? 10) * magnitude;
  const round = (value: number) => Math.round(value * 10) / 10;
  const y = (value: number) => round(top + plotHeight - (value / axisMax) * plotHeight);
  const groupWidth = (width - left - right) / Math.max(1, sizes.length);
  const barWidth = round(Math.min(40, (groupWidth - 30) / SERIES.length));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600">CPU per request inside workerd (ms, CPU time of the workerd process)</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const value = (axisMax / 5) * i;
    parts.push(
      `<line x1="${left}" x2="${width - right}" y1="${y(value)}" y2="${y(value)}" stroke="#e4e7eb"/>`,
      `<text x="${left - 8}" y="${y(value) + 4}" text-anchor="end" fill="#52606d">${Number(value.toPrecision(3))}</text>`,
    );
  }
  // Legend entries side by side, each as wide as its label (about 7 px per character at 12 px).
  let legendX = left;
  for (const series of SERIES) {
    parts.push(
      `<rect x="${legendX}" y="34" width="12" height="12" fill="${series.color}"/>`,
      `<text x="${legendX + 18}" y="44">${series.label}</text>`,
    );
    legendX += 18 + series.label.length * 7 + 16;
  }
  sizes.forEach((size, g) => {
    const groupX = round(left + g * groupWidth + (groupWidth - barWidth * SERIES.length) / 2);
    SERIES.forEach((series, s) => {
      const c = cpuCell(cpu, series.config, size);
      const x = round(groupX + s * barWidth);
      if (c === undefined) return;
      if (c.failure !== undefined) {
        parts.push(
          `<text x="${round(x + barWidth / 2)}" y="${round(y(0) - 6)}" text-anchor="middle" fill="${series.color}" font-size="10">failed</text>`,
        );
        return;
      }
      parts.push(
        `<rect x="${round(x + 2)}" y="${y(c.cpuMsPerRequest)}" width="${round(barWidth - 4)}" height="${round(y(0) - y(c.cpuMsPerRequest))}" fill="${series.color}"/>`,
        `<text x="${round(x + barWidth / 2)}" y="${round(y(c.cpuMsPerRequest) - 4)}" text-anchor="middle" font-size="10">${c.cpuMsPerRequest.toFixed(2)}</text>`,
      );
    });
    parts.push(
      `<text x="${round(left + g * groupWidth + groupWidth / 2)}" y="${height - bottom + 20}" text-anchor="middle" font-weight="600">${size} note</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" x2="${width - right}" y1="${y(0)}" y2="${y(0)}" stroke="#52606d"/>`,
    `<text x="${left}" y="${height - 22}" fill="#52606d" font-size="11">Median of ${cpu.load.runs} runs of ${cpu.load.requests} requests at concurrency ${cpu.load.concurrency}. Contract floor: bare + one HMAC verify + a 202 {"id"} answer.</text>`,
    `<text x="${left}" y="${height - 8}" fill="#52606d" font-size="11">Miniflare simulates Queues and the rate limiter inside workerd: the bare + bindings bars.</text>`,
    "</svg>",
  );
  return `${parts.join("\n")}\n`;
}
