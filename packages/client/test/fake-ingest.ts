/**
 * The network boundary for unit tests: a `fetch` that records every request and answers from a
 * script, and a `sleep` that records the waits without waiting.
 */

export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** One scripted answer: a Response, or an Error to throw as fetch does when no answer comes. */
export type Answer = Response | Error | ((request: RecordedRequest) => Response | Error);

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

export function apiError(status: number, code: string, message: string, headers: Record<string, string> = {}) {
  return json(status, { error: code, message }, headers);
}

/**
 * @example
 * const ingest = fakeIngest([new TypeError("fetch failed"), json(202, { id })]);
 * await send({ endpoint: "https://ingest.test", fetch: ingest.fetch, sleep: ingest.sleep }, note);
 */
export function fakeIngest(answers: Answer[]) {
  const requests: RecordedRequest[] = [];
  const sleeps: number[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    const recorded: RecordedRequest = {
      url: request.url,
      method: request.method,
      headers: Object.fromEntries(request.headers),
      body: new Uint8Array(await request.arrayBuffer()),
    };
    requests.push(recorded);
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`No scripted answer for request ${requests.length}.`);
    const result = typeof answer === "function" ? answer(recorded) : answer;
    if (result instanceof Error) throw result;
    return result;
  };
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  return { fetch, sleep, requests, sleeps };
}
