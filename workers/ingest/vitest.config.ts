import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject, mergeConfig } from "vitest/config";
import { unstable_readConfig } from "wrangler";
import shared from "../../vitest.shared.ts";
import {
  echoForwarded,
  TEST_ENROLL_IP_LIMIT,
  TEST_ENROLL_SECRETS,
  TEST_STATUS_ADDRESS_LIMIT,
  TEST_STATUS_LIMIT,
  TEST_TOKEN_LIMIT,
  TEST_TOKEN_SECRETS,
} from "./test/config.ts";

// The status limiters run at their deployed limits, so that the tests pin the figures
// workers/ingest/README.md's read budget rests on; a change to either side stops the run here.
const deployed = unstable_readConfig({ config: fileURLToPath(new URL("../../wrangler.ingest.toml", import.meta.url)) });
for (const [name, limit] of [
  ["STATUS_LIMITER", TEST_STATUS_LIMIT],
  ["STATUS_ADDRESS_LIMITER", TEST_STATUS_ADDRESS_LIMIT],
] as const) {
  const configured = deployed.ratelimits.find((binding) => binding.name === name)?.simple.limit;
  if (configured !== limit) {
    throw new Error(`test/config.ts runs ${name} at ${limit}, wrangler.ingest.toml at ${configured}: make them agree.`);
  }
}

export default mergeConfig(
  shared,
  defineProject({
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "../../wrangler.ingest.toml" },
        miniflare: {
          bindings: {
            TOKEN_SECRETS: JSON.stringify(TEST_TOKEN_SECRETS),
            ENROLL_SECRETS: JSON.stringify(TEST_ENROLL_SECRETS),
          },
          ratelimits: {
            TOKEN_LIMITER: { namespace_id: "1001", simple: { limit: TEST_TOKEN_LIMIT, period: 60 } },
            STATUS_LIMITER: { namespace_id: "1002", simple: { limit: TEST_STATUS_LIMIT, period: 60 } },
            STATUS_ADDRESS_LIMITER: { namespace_id: "1003", simple: { limit: TEST_STATUS_ADDRESS_LIMIT, period: 60 } },
            ENROLL_IP_LIMITER: { namespace_id: "1004", simple: { limit: TEST_ENROLL_IP_LIMIT, period: 60 } },
          },
          // Stands in for the deliver Worker behind the DELIVER binding: echoes what ingest forwarded.
          serviceBindings: { DELIVER: echoForwarded },
        },
      }),
    ],
    test: { name: "ingest", include: ["test/**/*.test.ts"] },
  }),
);
