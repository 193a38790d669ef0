/** What vitest.config.ts configures the Worker with; imported by the config (Node) and the tests (workerd). */

/** A stand-in upstream: every fetch to it is answered by the test's mock, never by the network. */
export const TEST_MAIL_API_URL = "https://mail.test";
export const TEST_MAIL_API_KEY = "re_test_key_never_logged_0123456789";
