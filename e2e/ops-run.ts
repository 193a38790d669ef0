/**
 * The real `pnpm ops`, run as an operator runs it, aimed at a local stack with its first ops token.
 */

import { execFile } from "node:child_process";
import { ROOT, type LocalStack as Stack } from "@notepipe/local-stack";

export interface OpsRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `pnpm -s ops …` from the repository root, with NOTEPIPE_OPS_URL and NOTEPIPE_OPS_TOKEN set for `stack`. */
export function runOps(stack: Stack, ...args: string[]): Promise<OpsRun> {
  const opsToken = (JSON.parse(stack.opsTokens) as string[])[0] as string;
  return new Promise((resolve) => {
    execFile(
      "pnpm",
      ["-s", "ops", ...args],
      {
        cwd: ROOT,
        env: { ...process.env, NOTEPIPE_OPS_URL: stack.ingestUrl, NOTEPIPE_OPS_TOKEN: opsToken },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
