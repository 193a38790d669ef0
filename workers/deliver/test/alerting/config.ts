/** Where the alerting project's ledger posts its alerts (vitest.alerting.config.ts): a URL the tests' fetch mock answers. */
export const TEST_ALERT_WEBHOOK_URL = "https://hooks.example.test/services/T000/B000/alerting";
