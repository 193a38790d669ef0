/**
 * The browser demo's server: serves index.html, the page's script (bundled from the SDK by esbuild
 * when the server starts) and its service worker, and passes `/v1/*` to ingest and `/inbox` to the local mail
 * provider. Same origin for all of it, so the page needs no CORS from either. It holds no secret:
 * the page enrols its addresses itself (POST /v1/tokens/code, POST /v1/tokens), reading each code
 * from the local inbox. This server only listens on 127.0.0.1.
 */

import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { proxy } from "hono/proxy";

/** Beside ingest (8787) and the local provider (8788). */
export const DEFAULT_WEB_PORT = 8790;

export interface WebDemoOptions {
  /** 0 picks a free port. Default 8790. */
  port?: number;
  /** Default http://127.0.0.1:8787, where `pnpm dev` runs ingest. */
  ingestUrl?: string;
  /** Default http://127.0.0.1:8788, where `pnpm dev` runs the local provider. */
  providerUrl?: string;
}

export interface RunningWebDemo {
  url: string;
  port: number;
  close(): Promise<void>;
}

// esbuild comes with wrangler (no dependency of our own, the same binary `pnpm exec esbuild` runs);
// this is the part of its API used here, since its types do not resolve from this folder.
interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

function loadEsbuild(): Esbuild {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve("wrangler/package.json"))("esbuild") as Esbuild;
}

/**
 * A script of the page's: src/page.ts with @notepipe/client inlined, as an app's bundler would ship
 * it, or src/service-worker.ts.
 */
export async function bundleScript(entry: "page.ts" | "service-worker.ts" = "page.ts"): Promise<string> {
  const result = await loadEsbuild().build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: "inline",
    write: false,
    logLevel: "silent",
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced no output for ${entry}.`);
  return output.text;
}

/**
 * @example
 * const web = await startWebDemo({ port: 0, ingestUrl: stack.ingestUrl, providerUrl: stack.providerUrl });
 * console.log(`browser demo: ${web.url}`);
 * await web.close();
 */
export async function startWebDemo(options: WebDemoOptions = {}): Promise<RunningWebDemo> {
  const ingestUrl = (options.ingestUrl ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  const providerUrl = (options.providerUrl ?? "http://127.0.0.1:8788").replace(/\/+$/, "");
  const html = readFileSync(new URL("../index.html", import.meta.url), "utf8");
  const script = await bundleScript();
  const serviceWorker = await bundleScript("service-worker.ts");

  const app = new Hono();
  app.get("/", (c) => c.html(html));
  app.get("/page.js", (c) => c.body(script, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/sw.js", (c) => c.body(serviceWorker, 200, { "content-type": "text/javascript; charset=utf-8" }));

  // All headers but Host, which names this server: the upstream gets its own from the URL.
  const forward = (url: string, request: Request) =>
    proxy(url, { raw: request, headers: { ...Object.fromEntries(request.headers), host: undefined } });
  app.all("/v1/*", (c) => forward(ingestUrl + c.req.path + new URL(c.req.url).search, c.req.raw));
  app.get("/inbox", (c) => forward(`${providerUrl}/inbox${new URL(c.req.url).search}`, c.req.raw));
  // What fails here is an upstream that does not answer: say which, in the API's error shape.
  app.onError((error, c) => {
    const upstream = c.req.path === "/inbox" ? providerUrl : ingestUrl;
    console.error(`web: ${c.req.method} ${c.req.path}: ${error.message}`);
    return c.json(
      {
        error: "upstream_unavailable",
        message: `Nothing answers at ${upstream}: is the local stack (pnpm dev) running?`,
      },
      502,
    );
  });

  const hostname = "127.0.0.1";
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = serve({ fetch: app.fetch, port: options.port ?? DEFAULT_WEB_PORT, hostname }, () =>
      resolve(listening as Server),
    );
    listening.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${hostname}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
