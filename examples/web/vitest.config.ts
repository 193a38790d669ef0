import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "web",
      include: ["test/**/*.test.ts"],
      // One real stack (wrangler dev, two workerd processes) for all the files; each its Chromium.
      globalSetup: ["test/demo-stack.global.ts"],
      testTimeout: 150_000,
      hookTimeout: 180_000,
    },
  }),
);
