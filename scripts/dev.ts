/**
 * `pnpm dev`: the whole local stack in one command, with no file to create first. Creates
 * `.dev.vars` from `.dev.vars.example` when it is missing, starts the local mail provider and
 * `wrangler dev` with both Workers (ingest served, deliver consuming the queue), prints where
 * everything is, and stops it all on Ctrl-C. KV and queue state persist in `.wrangler/state`.
 */

import { dirname, join } from "node:path";
import { DEFAULT_PROVIDER_PORT } from "@notepipe/local-provider";
import { DEFAULT_INGEST_PORT, ensureDevVars, ROOT, readDevVars, StackError, startStack } from "@notepipe/local-stack";
import { Command, InvalidArgumentError } from "commander";

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65_535) throw new InvalidArgumentError("Not a port.");
  return parsed;
}

const program = new Command("pnpm dev")
  .description("Run the local stack: the local mail provider and both Workers under wrangler dev.")
  .option("--ingest-port <port>", "port of the ingest Worker", port, DEFAULT_INGEST_PORT)
  .option(
    "--provider-port <port>",
    "run the local mail provider on this port, and have deliver send to it unless --mail-api-url says otherwise",
    port,
    DEFAULT_PROVIDER_PORT,
  )
  .option(
    "--providers <names>",
    "run one local provider per name, in failover order, on the provider port and the next ones " +
      "(resend,postmark: 8788 and 8789), and give deliver the list (MAIL_PROVIDERS)",
    (value: string) => value.split(",").map((name) => name.trim()),
  )
  .option("--fast-retries", "retry in seconds, not hours, so that a note dead-letters within a minute (ops drills)")
  .option(
    "--mail-api-url <url>",
    "where deliver sends (default: MAIL_API_URL in .dev.vars). Only the local provider's own URL, " +
      "http://127.0.0.1:<provider port>, starts it; any other URL, a mock on this machine included, " +
      "gets deliver's requests and the local provider is not started",
  )
  .parse();
const options = program.opts<{
  ingestPort: number;
  providerPort: number;
  fastRetries?: boolean;
  mailApiUrl?: string;
  providers?: string[];
}>();
// Asking for the provider on a port of your choice means sending to it, whatever .dev.vars names.
const mailApiUrl =
  options.mailApiUrl ??
  (program.getOptionValueSource("providerPort") === "cli" && options.providers === undefined
    ? `http://127.0.0.1:${options.providerPort}`
    : undefined);

/** With wrangler.deliver.toml's max_retries = 10: 11 deliveries about 3 s apart, then the dead-letter queue. */
const FAST_RETRY_VARS = { RETRY_BASE_SECONDS: "1", RETRY_MAX_SECONDS: "2", PIPELINE_RETRY_SECONDS: "1" };

const ensured = ensureDevVars();
if (ensured.created) console.log("dev: created .dev.vars from .dev.vars.example (local secrets, git-ignored)");
if (ensured.added.length > 0) console.log(`dev: added ${ensured.added.join(", ")} to .dev.vars from .dev.vars.example`);
const devVars = readDevVars();
for (const name of ["TOKEN_SECRETS", "ENROLL_SECRETS", "MAIL_API_KEY", "OPS_TOKENS", "RESEND_WEBHOOK_SECRET"]) {
  if (devVars[name] === undefined) {
    console.warn(`dev: .dev.vars has no ${name}; copy its line from .dev.vars.example.`);
  }
}

console.log(
  "dev: starting the local stack: wrangler dev with both Workers, and the local provider unless deliver sends elsewhere…",
);
let stack: Awaited<ReturnType<typeof startStack>>;
try {
  stack = await startStack({
    ingestPort: options.ingestPort,
    providerPort: options.providerPort,
    wranglerOutput: "inherit",
    deliveryWebhooks: true,
    ...(mailApiUrl === undefined ? {} : { mailApiUrl }),
    ...(options.providers === undefined ? {} : { providers: options.providers.map((name) => ({ name })) }),
    ...(options.fastRetries ? { deliverVars: FAST_RETRY_VARS } : {}),
  });
} catch (error) {
  console.error(`dev: ${error instanceof StackError ? error.message : String(error)}`);
  process.exit(1);
}

if (stack.configs.deliver !== join(ROOT, "wrangler.deliver.toml")) {
  console.log(`dev: running copies of the wrangler configs from ${dirname(stack.configs.deliver)}`);
  if (options.fastRetries) console.log("     (with the short retry delays of --fast-retries).");
}
console.log(
  stack.provider === null
    ? `dev: deliver sends to ${stack.mailApiUrl} (not the local provider, which is not started)`
    : stack.providers.length > 1
      ? `dev: deliver sends to the local providers, in this order: ${stack.providers.map(({ url, state }) => `${state.name} at ${url}`).join(", ")}`
      : `dev: deliver sends to the local provider at ${stack.mailApiUrl}`,
);
const inbox = stack.providers
  .map(
    ({ url, state }) => `
  mail inbox       ${url}/        (JSON: ${url}/inbox)${stack.providers.length > 1 ? `   ${state.name}` : ""}
  provider faults  ${url}/_control/faults`,
  )
  .join("");
console.log(`
  ingest           ${stack.ingestUrl}   POST /v1/notes, GET /v1/notes/:id${inbox}
  ops API          ${stack.ingestUrl}/ops/…   pnpm ops stats, pnpm ops dlq list
  webhooks         ${stack.ingestUrl}/webhooks/resend   (the provider posts delivered events there)
  a client token   pnpm -s token ada@example.com   (or enrol: POST /v1/tokens/code, then POST /v1/tokens)
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
