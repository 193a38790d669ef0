/**
 * deliver's HTTP side under test: the Worker's own `fetch` (its ops API and webhooks, from
 * workers/deliver/src/index.ts) with the secrets the bench passes and the in-isolate stubs of stub-bindings.ts: a
 * ledger whose dead letters all hold one frame and whose events all apply, KV that takes every put,
 * a `NOTES_QUEUE` that takes every replayed message.
 *
 * `PUT /_bench/dead-letter-frame` (the frame as the body) sets that frame before a replay run.
 */

import deliver from "../../../workers/deliver/src/index.ts";
import { stubbedEnv } from "./stub-bindings.ts";

let deadLetterFrame: Uint8Array | undefined;
let env: Env | undefined;

export default {
  async fetch(request, realEnv, ctx) {
    if (request.method === "PUT" && new URL(request.url).pathname === "/_bench/dead-letter-frame") {
      deadLetterFrame = new Uint8Array(await request.arrayBuffer());
      return new Response(null, { status: 204 });
    }
    env ??= stubbedEnv(realEnv, { deadLetterFrame: () => deadLetterFrame });
    return deliver.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
