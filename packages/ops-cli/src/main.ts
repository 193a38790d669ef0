/**
 * `pnpm ops …` (root package.json runs this file with Node 22). `pnpm ops --help` lists the
 * commands; README.md has the exit codes and the operator's walk-through.
 */

import { run } from "./program.ts";

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
