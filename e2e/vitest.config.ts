import { defineProject, mergeConfig } from "vitest/config";
import shared from "../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    test: {
      name: "e2e",
      include: ["*.test.ts"],
      // Each file starts a real stack (wrangler dev, two workerd processes, the local provider):
      // one file at a time, after every other project, on a 2-core machine.
      fileParallelism: false,
      testTimeout: 150_000,
      hookTimeout: 120_000,
    },
  }),
);
