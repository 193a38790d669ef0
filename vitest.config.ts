import { defineConfig } from "vitest/config";

// .ci/run reads the totals from this report to print its closing "N passed, N failed" line.
const jsonReport = process.env.NOTEPIPE_VITEST_JSON;

export default defineConfig({
  test: {
    reporters: jsonReport ? ["default", ["json", { outputFile: jsonReport }]] : ["default"],
    projects: [
      "packages/*/vitest.config.ts",
      "workers/*/vitest.config.ts",
      "workers/deliver/vitest.alerting.config.ts",
      "e2e/vitest.config.ts",
      "examples/web/vitest.config.ts",
    ],
  },
});
