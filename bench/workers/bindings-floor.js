/**
 * The floor with ingest's bindings: the same rate-limiter call and queue send as the ingest Worker,
 * none of its checks (no Hono, no frame decode, no token). Under Miniflare the Queue broker and the
 * rate limiter are simulated by JavaScript in the same workerd process, so their CPU lands in the
 * process's counters; subtracting this floor from ingest leaves what ingest's own code costs.
 */

/**
 * @typedef {{
 *   NOTES_QUEUE: { send(body: { frame: Uint8Array, acceptedAt: number }, options: { contentType: "v8" }): Promise<unknown> },
 *   TOKEN_LIMITER: { limit(options: { key: string }): Promise<{ success: boolean }> },
 * }} BindingsFloorEnv
 */

export default {
  /**
   * @param {Request} request
   * @param {BindingsFloorEnv} env
   * @returns {Promise<Response>}
   */
  async fetch(request, env) {
    const frame = new Uint8Array(await request.arrayBuffer());
    // Keyed like ingest: by the token, without "Bearer ".
    const { success } = await env.TOKEN_LIMITER.limit({ key: (request.headers.get("authorization") ?? "").slice(7) });
    if (!success) return new Response(null, { status: 429 });
    // As ingest sends it: v8, so the frame stays bytes (JSON, the default, spells each byte as a key).
    await env.NOTES_QUEUE.send({ frame, acceptedAt: Date.now() }, { contentType: "v8" });
    return new Response(null, { status: 202 });
  },
};
