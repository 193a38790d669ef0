// `wrangler deploy --dry-run` for both Workers, offline: proves each config bundles, and prints
// each bundle's raw and gzip size (Workers' limit is on the gzip size: 3 MB Free, 10 MB Paid).
// Bundles go to .wrangler/dryrun/ (git-ignored). Exits non-zero if either dry run fails.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const configs = ["wrangler.ingest.toml", "wrangler.deliver.toml"];

const require = createRequire(import.meta.url);
const wrangler = join(require.resolve("wrangler/package.json"), "..", require("wrangler/package.json").bin.wrangler);

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

let failed = false;
for (const config of configs) {
  const outdir = join(root, ".wrangler", "dryrun", config.replace(/^wrangler\.|\.toml$/g, ""));
  rmSync(outdir, { recursive: true, force: true });
  const run = spawnSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir, "-c", config], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (run.status !== 0) {
    failed = true;
    console.error(`dryrun: ${config} failed (exit ${run.status ?? run.signal})`);
    console.error(run.stdout, run.stderr);
    continue;
  }
  // Source maps are uploaded beside the bundle but do not count toward the size limit.
  const files = readdirSync(outdir).filter((name) => /\.(m?js|wasm)$/.test(name));
  const bundle = Buffer.concat(files.map((name) => readFileSync(join(outdir, name))));
  const gzip = gzipSync(bundle, { level: 9 }).length;
  console.log(
    `${config.padEnd(22)} ${files.join(", ").padEnd(12)} ${kib(bundle.length).padStart(10)} raw ${kib(gzip).padStart(10)} gzip`,
  );
}
process.exit(failed ? 1 : 0);
