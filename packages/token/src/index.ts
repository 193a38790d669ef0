export { DEV_TOKEN_SECRETS, parseTokenSecrets, type TokenSecrets } from "./secrets.ts";
export {
  type ClientToken,
  KID_PATTERN,
  type ReadTokenResult,
  readClientToken,
  signClientToken,
  TOKEN_PREFIX,
  type TokenProblem,
  type VerifyTokenResult,
  verifyClientToken,
} from "./token.ts";
