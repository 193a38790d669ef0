import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { configDefaults, defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";
import { TEST_SECRET_BINDINGS } from "./test/http-config.ts";

export default mergeConfig(
  shared,
  defineProject({
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "../../wrangler.deliver.toml" },
        miniflare: {
          bindings: {
            ...TEST_SECRET_BINDINGS,
            // The tests that count rows read `usage`, which the ledger keeps only when asked to.
            LEDGER_METERING: "on",
          },
          // Lets a test call `exports.default.queue()`, which goes through workerd's own queue
          // event and reports each retry's delay. Experimental: tests only, never production.
          compatibilityFlags: ["service_binding_extra_handlers"],
        },
      }),
    ],
    test: {
      name: "deliver",
      include: ["test/**/*.test.ts"],
      // Run with an alert webhook set, by vitest.alerting.config.ts.
      exclude: [...configDefaults.exclude, "test/alerting/**"],
      setupFiles: ["./test/setup.ts"],
    },
  }),
);
