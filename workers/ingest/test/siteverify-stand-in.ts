/**
 * A stand-in of Cloudflare Turnstile's siteverify (`POST /turnstile/v0/siteverify`), written from
 * its documentation, each rule with its source:
 *
 * - [A] https://developers.cloudflare.com/turnstile/get-started/server-side-validation/
 * - [B] https://developers.cloudflare.com/turnstile/troubleshooting/testing/
 *
 * | rule                                                                                 | source                                     |
 * | ------------------------------------------------------------------------------------ | ------------------------------------------ |
 * | POST only; the body is application/x-www-form-urlencoded or application/json; the   | [A] "The API accepts …", "always JSON"     |
 * | answer is always JSON, with `success` and `error-codes`                               |                                            |
 * | a body that is neither, or does not parse: `bad-request`                             | [A] error codes: "malformed"               |
 * | no `secret`: `missing-input-secret`; a secret it does not know: `invalid-input-secret` | [A] error codes                            |
 * | no `response`: `missing-input-response`                                               | [A] error codes                            |
 * | a response over 2,048 characters: `invalid-input-response`                            | [A] "A Turnstile token can have up to 2048 characters" |
 * | test secret 1x…AA: passes the dummy token `XXXX.DUMMY.TOKEN.XXXX`, and only it       | [B] "Test secret keys: Only accept the dummy token" |
 * | test secret 2x…AA: always `invalid-input-response`                                    | [B] "Always fails validation"              |
 * | test secret 3x…AA: always `timeout-or-duplicate`                                      | [B] "token already spent"                  |
 * | any other secret: only tokens its widget issued ({@link SiteverifyStandIn.solve}), never the dummy token | [B] "Production secret keys: … reject dummy tokens" |
 * | a token is valid 300 s after it was issued, then `timeout-or-duplicate`               | [A] "valid for 300 seconds"                |
 * | a token verifies once; again: `timeout-or-duplicate`                                   | [A] "The siteverify API will only validate a token once" |
 * | the same response with the same `idempotency_key` gets the first answer again         | [A] "it must utilize the idempotency functionality" |
 * | `remoteip` is optional and not checked                                                | [A] "This is currently not strictly validated" |
 *
 * What [A] leaves open, the stand-in decides strictly: a method other than POST is 405, and every
 * answer with `success: false` is HTTP 200 (as in [A]'s examples, which show no status).
 */

/** The dummy token Turnstile's test sitekeys make [B]. */
export const DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX";
/** [B]'s test secret keys. */
export const ALWAYS_PASSES = "1x0000000000000000000000000000000AA";
export const ALWAYS_FAILS = "2x0000000000000000000000000000000AA";
export const ALREADY_SPENT = "3x0000000000000000000000000000000AA";

const MAX_RESPONSE_CHARS = 2048;
const TOKEN_LIFETIME_MS = 300_000;

interface Issued {
  secret: string;
  issuedAt: number;
  /** The idempotency key of the first validation, and what it answered. */
  spentWith?: { key: string | undefined; answer: Answer };
}

type Answer = { success: true; challenge_ts: string; hostname: string; "error-codes": [] } | Refusal;
type Refusal = { success: false; "error-codes": string[] };

const refuse = (code: string): Refusal => ({ success: false, "error-codes": [code] });

export class SiteverifyStandIn {
  /** Every request it was sent, as the form it read (what a test checks the Worker sent). */
  readonly requests: Record<string, string>[] = [];
  readonly #secrets: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #issued = new Map<string, Issued>();

  /** `secrets`: the production secret keys it knows besides [B]'s test keys. `now`: its clock. */
  constructor(options: { secrets?: readonly string[]; now?: () => number } = {}) {
    this.#secrets = new Set(options.secrets ?? []);
    this.#now = options.now ?? Date.now;
  }

  /** What the widget of `secret`'s sitekey hands the page once a visitor passed: a fresh token. */
  solve(secret: string): string {
    const bytes = crypto.getRandomValues(new Uint8Array(96));
    const token = `0.${btoa(String.fromCharCode(...bytes))
      .replaceAll("+", "-")
      .replaceAll("/", "_")}`;
    this.#issued.set(token, { secret, issuedAt: this.#now() });
    return token;
  }

  /** Answers one siteverify request. */
  async fetch(request: Request): Promise<Response> {
    if (request.method !== "POST") return Response.json(refuse("bad-request"), { status: 405 });
    const form = await readForm(request);
    if (form === undefined) return Response.json(refuse("bad-request"));
    this.requests.push(form);
    return Response.json(this.#verify(form));
  }

  #verify(form: Record<string, string>): Answer {
    const { secret, response, idempotency_key: key } = form;
    if (secret === undefined || secret === "") return refuse("missing-input-secret");
    const known = secret === ALWAYS_PASSES || secret === ALWAYS_FAILS || secret === ALREADY_SPENT;
    if (!known && !this.#secrets.has(secret)) return refuse("invalid-input-secret");
    if (response === undefined || response === "") return refuse("missing-input-response");
    if (response.length > MAX_RESPONSE_CHARS) return refuse("invalid-input-response");
    if (secret === ALWAYS_FAILS) return refuse("invalid-input-response");
    if (secret === ALREADY_SPENT) return refuse("timeout-or-duplicate");
    if (secret === ALWAYS_PASSES) return response === DUMMY_TOKEN ? this.#passed() : refuse("invalid-input-response");

    const issued = this.#issued.get(response);
    if (issued === undefined || issued.secret !== secret) return refuse("invalid-input-response");
    if (issued.spentWith !== undefined) {
      const again = key !== undefined && issued.spentWith.key === key;
      return again ? issued.spentWith.answer : refuse("timeout-or-duplicate");
    }
    const answer = this.#now() - issued.issuedAt > TOKEN_LIFETIME_MS ? refuse("timeout-or-duplicate") : this.#passed();
    issued.spentWith = { key, answer };
    return answer;
  }

  #passed(): Answer {
    return {
      success: true,
      challenge_ts: new Date(this.#now()).toISOString(),
      hostname: "localhost",
      "error-codes": [],
    };
  }
}

/** The body's fields as strings, or undefined for a body [A] does not accept. */
async function readForm(request: Request): Promise<Record<string, string> | undefined> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const text = await request.text();
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  if (type !== "application/json") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const form: Record<string, string> = {};
  for (const [name, field] of Object.entries(value)) if (typeof field === "string") form[name] = field;
  return form;
}
