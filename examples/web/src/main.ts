/**
 * `pnpm web`: the browser demo against the running local stack (`pnpm dev`), or, with `--stack`,
 * against a stack of its own.
 *
 *   pnpm web [--port 8790] [--ingest-url …] [--provider-url …] [--stack]
 */

import { type Stack, startStack } from "@notepipe/local-stack";
import { Command, InvalidArgumentError } from "commander";
import { DEFAULT_WEB_PORT, startWebDemo } from "./server.ts";

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new InvalidArgumentError("Not a port.");
  return parsed;
}

const options = new Command("pnpm web")
  .description("Serve the browser demo: write a note, send it, watch its state, decrypt the email.")
  .option("--port <port>", "the page's port", port, DEFAULT_WEB_PORT)
  .option("--ingest-url <url>", "the ingest Worker", "http://127.0.0.1:8787")
  .option("--provider-url <url>", "the local mail provider", "http://127.0.0.1:8788")
  .option("--stack", "start the local stack too (ingest 8787, provider 8788, delivery webhooks on)")
  .parse()
  .opts<{ port: number; ingestUrl: string; providerUrl: string; stack?: boolean }>();

let stack: Stack | undefined;
if (options.stack) {
  console.log("web: starting the local stack (wrangler dev and the local provider)…");
  stack = await startStack({ deliveryWebhooks: true });
}

const web = await startWebDemo({
  port: options.port,
  ingestUrl: stack?.ingestUrl ?? options.ingestUrl,
  providerUrl: stack?.providerUrl ?? options.providerUrl,
});
console.log(`web: the browser demo is at ${web.url}`);
if (stack === undefined) {
  console.log(`     it sends to ${options.ingestUrl} and reads ${options.providerUrl}/inbox: run pnpm dev beside it.`);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.log("\nweb: stopping…");
    void Promise.all([web.close(), stack?.stop()]).then(() => process.exit(0));
  });
}
