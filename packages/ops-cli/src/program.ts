/**
 * `pnpm ops`: the commands, their global options (target, token, output) and how a run ends. The
 * commands live in commands/; argument parsing is commander's, progress bars are cli-progress's.
 */

import { firstOpsToken, readDevVars } from "@notepipe/local-stack";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { OpsClient } from "./client.ts";
import { addDlqCommands } from "./commands/dlq.ts";
import { addStatsCommand } from "./commands/stats.ts";
import { addTokenCommand } from "./commands/token.ts";
import { addWebhookSecretCommand } from "./commands/webhook-secret.ts";
import { CliError, EXIT_CODES } from "./errors.ts";

/** The local stack's ingest Worker, which forwards /ops/* to the deliver Worker. */
export const DEFAULT_OPS_URL = "http://127.0.0.1:8787";

/** Where a run reads and writes: the process's own, or a test's. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  /** Also the progress bar's stream: it draws only on a terminal. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  fetch?: typeof fetch;
  /** Where `.dev.vars` is looked for; the repository root by default. */
  devVarsRoot?: string;
}

export interface GlobalOptions {
  url?: string;
  token?: string;
  json?: boolean;
  timeout: number;
}

/** What every command gets: the io, and the global options resolved against the environment. */
export interface CommandContext {
  io: CliIo;
  options(command: Command): GlobalOptions;
  client(command: Command): OpsClient;
  devVars(): Record<string, string | undefined>;
  print(line: string): void;
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > 600) {
    throw new InvalidArgumentError("Give a number of seconds from 1 to 600.");
  }
  return parsed;
}

export function buildProgram(io: CliIo): Command {
  let devVars: Record<string, string | undefined> | undefined;
  const context: CommandContext = {
    io,
    options: (command) => command.optsWithGlobals<GlobalOptions>(),
    devVars: () => {
      devVars ??= readDevVars(io.devVarsRoot);
      return devVars;
    },
    client: (command) => {
      const options = context.options(command);
      const token = options.token ?? io.env.NOTEPIPE_OPS_TOKEN ?? firstOpsToken(context.devVars().OPS_TOKENS);
      if (token === undefined || token === "") {
        throw new CliError("usage", "no ops token: give --token or set NOTEPIPE_OPS_TOKEN.");
      }
      return new OpsClient({
        baseUrl: options.url ?? io.env.NOTEPIPE_OPS_URL ?? DEFAULT_OPS_URL,
        token,
        timeoutMs: options.timeout * 1000,
        ...(io.fetch === undefined ? {} : { fetch: io.fetch }),
      });
    },
    print: (line) => io.stdout.write(`${line}\n`),
  };

  const program = new Command("pnpm ops")
    .description("Operate notepipe: dead letters, delivery stats, client tokens, webhook secrets.")
    .option(
      "--url <url>",
      `the ops API, i.e. the ingest Worker's URL (env NOTEPIPE_OPS_URL; default ${DEFAULT_OPS_URL})`,
    )
    .option("--token <token>", "an ops token (env NOTEPIPE_OPS_TOKEN; default the first of OPS_TOKENS in .dev.vars)")
    .option("--json", "print JSON instead of text")
    .option("--timeout <seconds>", "how long one request may take", seconds, 30)
    .addHelpText(
      "after",
      `
Exit codes: ${Object.entries(EXIT_CODES)
        .map(([kind, code]) => `${code} ${kind}`)
        .join(", ")} (README.md).`,
    )
    // Before the subcommands: they inherit both.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });
  program.showHelpAfterError("(pnpm ops --help for usage)");

  addDlqCommands(program, context);
  addStatsCommand(program, context);
  addTokenCommand(program, context);
  addWebhookSecretCommand(program, context);
  return program;
}

/**
 * Runs `pnpm ops <argv…>` and answers its exit code; errors end as one line on stderr.
 *
 * @example
 * process.exitCode = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT_CODES.ok;
  } catch (error) {
    // commander has already printed its message (usage errors) or the help (exit code 0).
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    if (error instanceof CliError) {
      io.stderr.write(`ops: ${error.message}\n`);
      return error.exitCode;
    }
    io.stderr.write(`ops: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_CODES.server_error;
  }
}
