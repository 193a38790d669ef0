import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";
import { TEST_ALERT_WEBHOOK_URL } from "./test/alerting/config.ts";
import { TEST_SECRET_BINDINGS } from "./test/http-config.ts";

/**
 * The deliver Worker with an alert webhook set. The ledger reads its channels from its own `env`,
 * which a test cannot swap per call, and an alarm that posts alerts would add requests to the
 * provider mocks the other deliver tests count: so these tests run in a project of their own.
 */
export default mergeConfig(
  shared,
  defineProject({
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "../../wrangler.deliver.toml" },
        miniflare: {
          bindings: {
            ...TEST_SECRET_BINDINGS,
            OPS_ALERT_WEBHOOK_URL: TEST_ALERT_WEBHOOK_URL,
          },
        },
      }),
    ],
    test: { name: "deliver-alerting", include: ["test/alerting/**/*.test.ts"], setupFiles: ["./test/setup.ts"] },
  }),
);
