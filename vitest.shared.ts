import { defineConfig } from "vitest/config";

/** Settings every project shares. */
export default defineConfig({
  test: {
    restoreMocks: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
