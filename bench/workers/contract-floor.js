/**
 * The floor of ingest's contract: what any Worker that honours `POST /v1/notes` pays, whoever
 * writes it. It reads the body, verifies one HMAC-SHA256 with WebCrypto (key imported once per
 * isolate, as ingest does) over a recipient-sized message, and answers 202 with `{"id"}` as JSON.
 * No routing, no parsing, no checks: ingest with its bindings stubbed, over this, is what notepipe's
 * own code adds to the contract.
 */

const ACCEPTED = { status: 202, headers: { "content-type": "application/json" } };
const encoder = new TextEncoder();
const MAC = new Uint8Array(32);
/** @type {ReturnType<typeof crypto.subtle.importKey> | undefined} */
let key;

export default {
  /**
   * @param {Request} request
   * @param {{ HMAC_SECRET: string }} env
   * @returns {Promise<Response>}
   */
  async fetch(request, env) {
    key ??= crypto.subtle.importKey("raw", encoder.encode(env.HMAC_SECRET), { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    await request.arrayBuffer();
    // The answer does not matter (it is false): an HMAC costs the same either way.
    await crypto.subtle.verify("HMAC", await key, MAC, encoder.encode("ada.lovelace@example.com"));
    return new Response('{"id":"3b241101-e2bb-4255-8caf-4136c566a962"}', ACCEPTED);
  },
};
