/** The secrets vitest.config.ts gives the Worker's HTTP side; imported by the config (Node) and the tests (workerd). */

import { TEST_MAIL_API_KEY, TEST_MAIL_API_URL } from "./config.ts";

/** Two current ops tokens, as during a rotation. */
export const TEST_OPS_TOKENS = ["ops-test-token-2026a-0123456789", "ops-test-token-2026b-0123456789"] as const;
/** `whsec_` + base64 of 24 bytes, the shape Resend's dashboard shows. */
export const TEST_RESEND_WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWI=";
export const TEST_POSTMARK_CREDENTIALS = "postmark-test:webhook-password-0123456789";

/** The secrets both deliver test projects give the Worker (vitest.config.ts, vitest.alerting.config.ts). */
export const TEST_SECRET_BINDINGS = {
  MAIL_API_KEY: TEST_MAIL_API_KEY,
  MAIL_API_URL: TEST_MAIL_API_URL,
  OPS_TOKENS: JSON.stringify(TEST_OPS_TOKENS),
  RESEND_WEBHOOK_SECRET: TEST_RESEND_WEBHOOK_SECRET,
  POSTMARK_WEBHOOK_CREDENTIALS: TEST_POSTMARK_CREDENTIALS,
};
