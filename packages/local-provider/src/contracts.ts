/**
 * The providers' documented contracts as data, importable wherever fetch runs (a Worker's tests
 * too): no Node module below this file.
 */

export {
  CLOUDFLARE_EMAIL_CONTRACT,
  CLOUDFLARE_EMAIL_ERROR_CODES,
  CLOUDFLARE_EMAIL_LIMITS,
  type CloudflareEmailErrorCode,
} from "./cloudflare-email-contract.ts";
export { type ContractRow, contractTableCells } from "./contract.ts";
export {
  POSTMARK_CONTRACT,
  POSTMARK_ERROR_CODES,
  POSTMARK_LIMITS,
} from "./postmark-contract.ts";
export {
  CLOUDFLARE_1010_BODY,
  RESEND_BATCH_UNSUPPORTED_FIELDS,
  RESEND_CONTRACT,
  RESEND_LIMITS,
} from "./resend-contract.ts";
