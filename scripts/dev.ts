/**
 * `pnpm dev`: the whole local stack in one command, with no file to create first. Creates
 * `.dev.vars` from `.dev.vars.example` when it is missing, starts the local mail provider and
 * `wrangler dev` with both Workers (ingest served, deliver consuming the queue), prints where
 * everything is, and stops it all on Ctrl-C. KV and queue state persist in `.wrangler/state`.
 */

import { dirname, join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { DEFAULT_INGEST_PORT, ensureDevVars, ROOT, StackError, startStack } from "./stack.ts";

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65_535) throw new InvalidArgumentError("Not a port.");
  return parsed;
}

const options = new Command("pnpm dev")
  .description("Run the local stack: the local mail provider and both Workers under wrangler dev.")
  .option("--ingest-port <port>", "port of the ingest Worker", port, DEFAULT_INGEST_PORT)
  .option("--provider-port <port>", "port of the local mail provider", port, 8788)
  .parse()
  .opts<{ ingestPort: number; providerPort: number }>();

const devVars = ensureDevVars();
if (devVars.created) console.log("dev: created .dev.vars from .dev.vars.example (local secrets, git-ignored)");
for (const name of ["TOKEN_SECRETS", "MAIL_API_KEY"]) {
  if (devVars.vars[name] === undefined) {
    console.warn(`dev: .dev.vars has no ${name}; copy its line from .dev.vars.example.`);
  }
}

console.log("dev: starting the local mail provider and wrangler dev (both Workers)…");
let stack: Awaited<ReturnType<typeof startStack>>;
try {
  stack = await startStack({
    ingestPort: options.ingestPort,
    providerPort: options.providerPort,
    wranglerOutput: "inherit",
  });
} catch (error) {
  console.error(`dev: ${error instanceof StackError ? error.message : String(error)}`);
  process.exit(1);
}

if (stack.configs.deliver !== join(ROOT, "wrangler.deliver.toml")) {
  console.log(`dev: running copies of the wrangler configs from ${dirname(stack.configs.deliver)}`);
  console.log(`     (.dev.vars does not point MAIL_API_URL at ${stack.providerUrl}; they do).`);
}
console.log(`
  ingest           ${stack.ingestUrl}   POST /v1/notes, GET /v1/notes/:id
  mail inbox       ${stack.providerUrl}/        (JSON: ${stack.providerUrl}/inbox)
  provider faults  ${stack.providerUrl}/_control/faults
  a client token   pnpm -s token ada@example.com
  the whole path   pnpm demo

dev: ready. Ctrl-C stops everything.`);

let shuttingDown = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log("\ndev: stopping…");
    void stack.stop().then(() => process.exit(0));
  });
}

const code = await stack.exited;
if (!shuttingDown) {
  console.error(`dev: wrangler dev exited on its own (code ${code}); stopping the provider.`);
  await stack.stop();
  process.exit(code ?? 1);
}
