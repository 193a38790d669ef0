/**
 * `node packages/local-provider/src/main.ts [--port 8788]`: the local provider on its own, for
 * running it beside a stack started some other way. `pnpm dev` starts it for you.
 */

import { Command, InvalidArgumentError } from "commander";
import { DEFAULT_PROVIDER_PORT, startLocalProvider } from "./server.ts";
import { DEFAULT_API_KEY, DEFAULT_RATE_LIMIT_PER_SECOND } from "./state.ts";
import { DEFAULT_WEBHOOK_DELAY_MS } from "./webhooks.ts";

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError("Not a whole number.");
  return parsed;
}

const options = new Command("local-provider")
  .description("A local stand-in for the Resend and Postmark send APIs, with fault injection and an inbox.")
  .option("--port <port>", "port to listen on, 0 for any free one", integer, DEFAULT_PROVIDER_PORT)
  .option("--host <host>", "address to listen on", "127.0.0.1")
  .option("--name <name>", "what its stats and inbox page call it (a second one beside it: secondary)", "local")
  .option("--api-key <key...>", "API keys / server tokens to accept", [DEFAULT_API_KEY])
  .option("--rate-limit <n>", "requests per second per key, 0 for none", integer, DEFAULT_RATE_LIMIT_PER_SECOND)
  .option("--resend-webhook-url <url>", "post Svix-signed email.delivered/bounced events there")
  .option("--resend-webhook-secret <whsec>", "the whsec_ secret that signs them")
  .option("--postmark-webhook-url <url>", "post Postmark Delivery/Bounce events there")
  .option("--postmark-webhook-credentials <user:password>", "their basic auth")
  .option("--webhook-delay-ms <ms>", "how long after acceptance an event is posted", integer, DEFAULT_WEBHOOK_DELAY_MS)
  .parse()
  .opts<{
    port: number;
    host: string;
    name: string;
    apiKey: string[];
    rateLimit: number;
    resendWebhookUrl?: string;
    resendWebhookSecret?: string;
    postmarkWebhookUrl?: string;
    postmarkWebhookCredentials?: string;
    webhookDelayMs: number;
  }>();

const provider = await startLocalProvider({
  name: options.name,
  port: options.port,
  hostname: options.host,
  apiKeys: options.apiKey,
  rateLimitPerSecond: options.rateLimit,
  webhooks: {
    ...(options.resendWebhookUrl === undefined ? {} : { resendUrl: options.resendWebhookUrl }),
    ...(options.resendWebhookSecret === undefined ? {} : { resendSecret: options.resendWebhookSecret }),
    ...(options.postmarkWebhookUrl === undefined ? {} : { postmarkUrl: options.postmarkWebhookUrl }),
    ...(options.postmarkWebhookCredentials === undefined
      ? {}
      : { postmarkCredentials: options.postmarkWebhookCredentials }),
    delayMs: options.webhookDelayMs,
  },
});
console.log(`local provider ${provider.state.name} listening on ${provider.url} (inbox page: ${provider.url}/)`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void provider.close().then(() => process.exit(0));
  });
}
