// The answers' types are the ops API's contract: @notepipe/pipeline (ReplayAnswer, OpsStats, …).
export { OpsClient } from "./client.ts";
export { CliError, EXIT_CODES, type ExitKind } from "./errors.ts";
export { type CliIo, DEFAULT_OPS_URL, run } from "./program.ts";
