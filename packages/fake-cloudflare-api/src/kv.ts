/**
 * Workers KV namespaces (the namespaces themselves; no keys are modelled).
 */

import { Hono } from "hono";
import { ERRORS, ok, paged, readJson } from "./envelope.ts";
import { type AccountState, newId } from "./state.ts";

/** https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/create/: title maxLength 512. */
const MAX_TITLE_LENGTH = 512;

export function kvRoutes(state: AccountState): Hono {
  const routes = new Hono();

  // https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/list/
  // (per_page: default 20, at most 1,000; wrangler asks for title order).
  routes.get("/storage/kv/namespaces", (c) => {
    const namespaces = [...state.kvNamespaces.values()].sort((a, b) => a.title.localeCompare(b.title));
    return paged(c, namespaces, { defaultPerPage: 20, maxPerPage: 1000 });
  });

  // https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/create/
  routes.post("/storage/kv/namespaces", async (c) => {
    const { title } = await readJson(c.req.raw);
    if (typeof title !== "string" || title.length === 0 || title.length > MAX_TITLE_LENGTH) {
      throw ERRORS.badRequest("title must be 1 to 512 characters.");
    }
    if ([...state.kvNamespaces.values()].some((namespace) => namespace.title === title)) throw ERRORS.kvTitleTaken();
    const namespace = { id: newId(), title, supports_url_encoding: true };
    state.kvNamespaces.set(namespace.id, namespace);
    return ok(c, namespace);
  });

  // https://developers.cloudflare.com/api/resources/kv/subresources/namespaces/methods/get/
  routes.get("/storage/kv/namespaces/:namespaceId", (c) => {
    const namespace = state.kvNamespaces.get(c.req.param("namespaceId"));
    if (namespace === undefined) throw ERRORS.kvNotFound();
    return ok(c, namespace);
  });

  return routes;
}
