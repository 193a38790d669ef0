import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";
import { TEST_ALERT_WEBHOOK_URL } from "./test/alerting/config.ts";
import { TEST_MAIL_API_KEY, TEST_MAIL_API_URL } from "./test/config.ts";
import { TEST_OPS_TOKENS, TEST_POSTMARK_CREDENTIALS, TEST_RESEND_WEBHOOK_SECRET } from "./test/http-config.ts";

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
            MAIL_API_KEY: TEST_MAIL_API_KEY,
            MAIL_API_URL: TEST_MAIL_API_URL,
            OPS_TOKENS: JSON.stringify(TEST_OPS_TOKENS),
            RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
            POSTMARK_WEBHOOK_CREDENTIALS: TEST_POSTMARK_CREDENTIALS,
            OPS_ALERT_WEBHOOK_URL: TEST_ALERT_WEBHOOK_URL,
          },
        },
      }),
    ],
    test: { name: "deliver-alerting", include: ["test/alerting/**/*.test.ts"], setupFiles: ["./test/setup.ts"] },
  }),
);
