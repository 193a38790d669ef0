/**
 * Bundles both Workers exactly as `wrangler deploy` would upload them (`--dry-run --outdir`) and
 * measures the upload: the ingest bundle is parsed on every cold start, so its size is cold-start time.
 * The CPU benchmark runs the ingest bundle built here, not the TypeScript source.
 */

import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";

export interface BundleSize {
  worker: string;
  config: string;
  /** The bundle's modules (source maps are not uploaded for execution), in bytes. */
  rawBytes: number;
  /** The same modules gzipped together, level 9 (as scripts/dryrun.mjs counts them). */
  gzipBytes: number;
  modules: string[];
  /** Wrangler's own "Total Upload: … / gzip: …" line, to compare with. */
  wranglerReports: string;
  /** Where the bundle was written; the CPU benchmark loads `<outdir>/<main>`. */
  outdir: string;
  main: string;
}

const run = promisify(execFile);

export const WORKER_CONFIGS = [
  { worker: "ingest", config: "wrangler.ingest.toml" },
  { worker: "deliver", config: "wrangler.deliver.toml" },
] as const;

/**
 * `unminified` overrides the config's `minify` with `--no-minify`: the same code, one source line per
 * line, so that a profile's line ticks map back to source lines. Only the profile uses it.
 */
export async function bundleWorker(
  repoRoot: string,
  worker: string,
  config: string,
  outdir: string,
  unminified = false,
): Promise<BundleSize> {
  const wrangler = join(repoRoot, "node_modules/wrangler/bin/wrangler.js");
  const args = [
    wrangler,
    "deploy",
    "--dry-run",
    "--outdir",
    outdir,
    "-c",
    config,
    ...(unminified ? ["--no-minify"] : []),
  ];
  let output: string;
  try {
    const { stdout } = await run(process.execPath, args, {
      cwd: repoRoot,
      // Telemetry would try the network, which these machines do not have.
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
      maxBuffer: 16 * 1024 * 1024,
    });
    output = stdout;
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`wrangler deploy --dry-run -c ${config} failed:\n${stdout}${stderr}`);
  }
  const modules = readdirSync(outdir)
    .filter((name) => /\.(m?js|wasm)$/.test(name))
    .sort();
  const bytes = Buffer.concat(modules.map((name) => readFileSync(join(outdir, name))));
  const rawBytes = bytes.length;
  const gzipBytes = gzipSync(bytes, { level: 9 }).length;
  const main = modules.find((name) => name === "index.js") ?? modules[0];
  if (main === undefined) throw new Error(`wrangler wrote no module to ${outdir}`);
  const wranglerReports = /Total Upload: ([^\n]+)/.exec(output)?.[1]?.trim() ?? "";
  return { worker, config, rawBytes, gzipBytes, modules, wranglerReports, outdir, main };
}

export async function bundleWorkers(repoRoot: string, outRoot: string): Promise<BundleSize[]> {
  const sizes: BundleSize[] = [];
  // One after the other: two esbuild runs at once would only fight for the same two cores.
  for (const { worker, config } of WORKER_CONFIGS) {
    sizes.push(await bundleWorker(repoRoot, worker, config, join(outRoot, worker)));
  }
  return sizes;
}
