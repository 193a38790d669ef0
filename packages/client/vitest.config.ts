import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "client",
      include: ["test/**/*.test.ts"],
      // The round trip through the real ingest starts wrangler dev (two workerd processes): a cold
      // start bundles both Workers, and PBKDF2 at 600,000 iterations takes ~0.5 s per derivation.
      testTimeout: 120_000,
      hookTimeout: 180_000,
    },
  }),
);
