export { type DeadLetterView, OpsClient, type ReplayAnswer, type Stats } from "./client.ts";
export { CliError, EXIT_CODES, type ExitKind } from "./errors.ts";
export { type CliIo, DEFAULT_OPS_URL, run } from "./program.ts";
