import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineProject, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

export default mergeConfig(
  shared,
  defineProject({
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "../../wrangler.ingest.toml" },
        miniflare: { bindings: { TOKEN_SECRETS: JSON.stringify({ test1: "dGVzdC1zZWNyZXQtb25l" }) } },
      }),
    ],
    test: { name: "ingest", include: ["test/**/*.test.ts"] },
  }),
);
