/**
 * The size budgets: what an app ships, bundled and minified as an app's bundler would. Sending and
 * polling is at most 5 KB gzip; with the outbox (and the IndexedDB stores a browser app uses with
 * it, for its notes and its key), at most 6 KB.
 */

import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { expect, it } from "vitest";

const BUDGET_BYTES = 5 * 1024;
const OUTBOX_BUDGET_BYTES = 6 * 1024;

// esbuild is not a dependency of its own here: wrangler ships it, and resolving it from wrangler's
// package gets the very binary `pnpm exec esbuild` runs.
const require = createRequire(import.meta.url);
// esbuild's types are not resolvable from here either; this is the part of its API the test uses.
interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { contents: Uint8Array }[] }>;
}
const esbuild = createRequire(require.resolve("wrangler/package.json"))("esbuild") as Esbuild;

async function gzipSizeOf(entry: string): Promise<{ raw: number; gzip: number }> {
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: import.meta.dirname, loader: "ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

it("the send-and-poll path is at most 5 KB gzip", async () => {
  const size = await gzipSizeOf('export { resumeOnOpen, send } from "@notepipe/client";');
  const all = await gzipSizeOf('export * from "@notepipe/client";');
  console.log(
    `client size: send + resumeOnOpen ${size.raw} B minified, ${size.gzip} B gzip (budget ${BUDGET_BYTES} B); ` +
      `whole SDK ${all.raw} B minified, ${all.gzip} B gzip`,
  );
  expect(size.gzip).toBeLessThanOrEqual(BUDGET_BYTES);
});

it("the outbox with its key store, send and resumeOnOpen is at most 6 KB gzip", async () => {
  const browser = await gzipSizeOf(
    'export { createOutbox, currentKey, IndexedDbKeyStore, IndexedDbOutboxStore, keepNewKey, resumeOnOpen, send } from "@notepipe/client";',
  );
  const reactNative = await gzipSizeOf(
    'export { AsyncStorageKeyStore, AsyncStorageOutboxStore, createOutbox, currentKey, keepNewKey, resumeOnOpen, send } from "@notepipe/client";',
  );
  console.log(
    `client size: outbox + IndexedDB stores (notes, keys) + send + resumeOnOpen ${browser.raw} B minified, ${browser.gzip} B gzip ` +
      `(budget ${OUTBOX_BUDGET_BYTES} B); with the AsyncStorage stores instead ${reactNative.gzip} B gzip`,
  );
  expect(browser.gzip).toBeLessThanOrEqual(OUTBOX_BUDGET_BYTES);
  expect(reactNative.gzip).toBeLessThanOrEqual(OUTBOX_BUDGET_BYTES);
});
