/** The secrets vitest.config.ts gives the Worker's HTTP side; imported by the config (Node) and the tests (workerd). */

/** Two current ops tokens, as during a rotation. */
export const TEST_OPS_TOKENS = ["ops-test-token-2026a-0123456789", "ops-test-token-2026b-0123456789"] as const;
/** `whsec_` + base64 of 24 bytes, the shape Resend's dashboard shows. */
export const TEST_RESEND_WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLWtleS0wMTIzNDU2Nzg5YWI=";
export const TEST_POSTMARK_CREDENTIALS = "postmark-test:webhook-password-0123456789";
