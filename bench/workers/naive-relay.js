/**
 * The seed's naive relay, what a user writes without notepipe: the client posts JSON with base64
 * fields, the Worker parses it, builds the provider's JSON body, calls the provider, parses its JSON
 * answer and answers JSON. The bench runs it in workerd against a local stub provider, and the micro
 * benchmark imports {@link relayBody} so that both measure the same code.
 */

const FROM = "notepipe <notes@notepipe.dev>";
const SUBJECT = "Encrypted Note";

/**
 * @typedef {{ to: string, nonce: string, ciphertext: string }} NaiveNote
 * @typedef {{ STUB_URL: string, MAIL_API_KEY: string }} NaiveRelayEnv
 */

/**
 * The Resend-style body of one email (https://resend.com/docs/api-reference/emails/send-email).
 * @param {NaiveNote} note
 * @returns {string}
 */
export function relayBody(note) {
  return JSON.stringify({ from: FROM, to: [note.to], subject: SUBJECT, text: `${note.nonce}\n${note.ciphertext}` });
}

export default {
  /**
   * @param {Request} request
   * @param {NaiveRelayEnv} env
   * @returns {Promise<Response>}
   */
  async fetch(request, env) {
    const note = /** @type {NaiveNote} */ (await request.json());
    const upstream = await fetch(`${env.STUB_URL}/emails`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.MAIL_API_KEY}`, "content-type": "application/json" },
      body: relayBody(note),
    });
    const sent = /** @type {{ id: string }} */ (await upstream.json());
    return Response.json({ id: sent.id }, { status: 202 });
  },
};
