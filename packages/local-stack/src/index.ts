/**
 * The local stack as a library: `pnpm dev`, `pnpm demo`, the web demo, the end-to-end tests, the
 * client's tests and the benchmark start it through {@link startStack}, and read its settings
 * through one reader with one precedence (dev-vars.ts).
 */

export { devVarsLine, ensureDevVars, exampleDevVars, firstOpsToken, ROOT, readDevVars } from "./dev-vars.ts";
export { type PlannedProvider, planProviders, providerVars, type StackProvider } from "./providers.ts";
export {
  DEFAULT_INGEST_PORT,
  devTokenSecretsJson,
  type IngestLimiter,
  type LocalStack,
  type Stack,
  StackError,
  type StackOptions,
  startStack,
  THROWAWAY_INGEST_LIMITS,
} from "./stack.ts";
