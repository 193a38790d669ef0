import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "web",
      include: ["test/**/*.test.ts"],
      // Starts a real stack (wrangler dev, two workerd processes) and a Chromium.
      testTimeout: 150_000,
      hookTimeout: 180_000,
    },
  }),
);
