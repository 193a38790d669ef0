export {
  CODE_LENGTH,
  CODE_LIFETIME_MS,
  CODE_PATTERN,
  enrollmentCodeMac,
  makeEnrollmentCode,
  readEnrollmentCode,
  sameMac,
} from "./enroll-code.ts";
export {
  DEV_ENROLL_SECRETS,
  DEV_TOKEN_SECRETS,
  parseEnrollSecrets,
  parseTokenSecrets,
  type SecretsName,
  type TokenSecrets,
} from "./secrets.ts";
export {
  type ClientToken,
  KID_PATTERN,
  NP1_ISSUED_AT,
  NP1_PREFIX,
  type ReadTokenResult,
  readClientToken,
  signClientToken,
  TOKEN_PREFIX,
  type TokenProblem,
  type VerifyTokenResult,
  verifyClientToken,
} from "./token.ts";
