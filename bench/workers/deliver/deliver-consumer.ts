/**
 * The consumer under test: deliver's own `deliverNotes`, as it is in workers/deliver today, with the
 * real vars of wrangler.deliver.toml (MAIL_API_URL at the bench's provider stand-in) and the
 * in-isolate stubs of stub-bindings.ts for its ledger, KV and queues.
 */

import { deliverNotes } from "../../../workers/deliver/src/queue/deliver-notes.ts";
import { stubbedEnv } from "./stub-bindings.ts";

let env: Env | undefined;

export default {
  async queue(batch, realEnv) {
    // Once per isolate, like the bindings themselves: deliver's config cache keys on the env's values.
    env ??= stubbedEnv(realEnv);
    await deliverNotes(batch, env);
  },
} satisfies ExportedHandler<Env>;
