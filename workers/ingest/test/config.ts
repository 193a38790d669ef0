/** What vitest.config.ts configures the Worker with; imported by the config (Node) and the tests (workerd). */

/** Two current kids, as during a rotation. A retired kid's secret lives in the test that uses it. */
export const TEST_TOKEN_SECRETS = {
  k2026a: "test-secret-k2026a-0123456789",
  k2026b: "test-secret-k2026b-0123456789",
};

/** ENROLL_SECRETS: one current kid. A retired kid's secret lives in the test that uses it. */
export const TEST_ENROLL_SECRETS = { e2026a: "test-enroll-secret-e2026a-0123" };

/** ENROLL_IP_LIMITER's limit per client address per 60 s: above one address's 3 codes and 5 tries. */
export const TEST_ENROLL_IP_LIMIT = 12;

/** TOKEN_LIMITER's limit per token per 60 s: small enough that a test uses a token up in a few requests. */
export const TEST_TOKEN_LIMIT = 5;

/**
 * STATUS_LIMITER's limit in ids per client per 60 s, and STATUS_ADDRESS_LIMITER's per address: the
 * deployed ones (vitest.config.ts checks them against wrangler.ingest.toml), which the read budget's
 * arithmetic in workers/ingest/README.md rests on. A poll goes through below them and may add 99 more.
 */
export const TEST_STATUS_LIMIT = 120;
export const TEST_STATUS_ADDRESS_LIMIT = 201;

/** The deliver Worker's stand-in (runs in Node): answers 299 with the request as ingest forwarded it. */
export async function echoForwarded(request: Request): Promise<Response> {
  return Response.json(
    {
      method: request.method,
      url: request.url,
      authorization: request.headers.get("authorization"),
      body: await request.text(),
    },
    { status: 299 },
  );
}
