/**
 * Worker scripts: the upload `wrangler deploy` makes, with the checks the API makes of its bindings
 * and Durable Object migrations, and the settings, secrets, cron triggers and workers.dev routes
 * around it.
 */

import { type Context, Hono } from "hono";
import { CloudflareApiError, ERRORS, ok, readJson } from "./envelope.ts";
import { type AccountState, findQueueByName, newId, newTag, type Script, type ScriptBinding } from "./state.ts";

/** https://developers.cloudflare.com/workers/configuration/secrets/: secrets and vars are both a binding's `name` and `text`. */
const VALUE_BINDINGS = new Set(["secret_text", "plain_text", "json"]);

export function workerRoutes(state: AccountState): Hono {
  const routes = new Hono();
  const script = (c: Context): Script => {
    const found = state.scripts.get(c.req.param("scriptName") ?? "");
    if (found === undefined) throw ERRORS.workerNotFound();
    return found;
  };

  // wrangler reads a Worker's current version and migration tag here before it uploads
  // (packages/deploy-helpers: getMigrationsToUpload, and deploy's "does the Worker exist" check).
  routes.get("/workers/services/:scriptName", (c) => {
    const found = script(c);
    return ok(c, {
      id: found.name,
      default_environment: {
        environment: "production",
        created_on: found.createdOn,
        modified_on: found.modifiedOn,
        script: {
          id: found.name,
          tag: found.tag,
          tags: [],
          etag: found.etag,
          migration_tag: found.migrationTag ?? undefined,
          last_deployed_from: "wrangler",
          created_on: found.createdOn,
          modified_on: found.modifiedOn,
        },
      },
    });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/methods/update/
  // Uploads and deploys at once; wrangler takes this path for a new Worker and for a migration.
  routes.put("/workers/scripts/:scriptName", async (c) => {
    const name = c.req.param("scriptName");
    const uploaded = applyUpload(state, name, state.scripts.get(name), await readUpload(c.req.raw), newTag());
    state.scripts.set(name, uploaded);
    return ok(c, {
      id: name,
      etag: uploaded.etag,
      deployment_id: uploaded.tag,
      created_on: uploaded.createdOn,
      modified_on: uploaded.modifiedOn,
      startup_time_ms: 1,
    });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/versions/methods/create/
  // A version of an existing Worker, deployed only by the deployment below. A version carries no
  // Durable Object migration: https://developers.cloudflare.com/workers/configuration/versions-and-deployments/gradual-deployments/#gradual-deployments-for-durable-objects
  routes.post("/workers/scripts/:scriptName/versions", async (c) => {
    const found = script(c);
    const metadata = await readUpload(c.req.raw);
    if (metadata.migrations !== undefined) {
      throw ERRORS.invalidUpload(
        "a version cannot carry Durable Object migrations; deploy them with PUT /workers/scripts/:script_name",
      );
    }
    const versionId = newTag();
    const version = applyUpload(state, found.name, found, metadata, versionId);
    state.versions.set(versionId, version);
    return ok(c, { id: versionId, resources: { script: { etag: version.etag } }, startup_time_ms: 1 });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/deployments/methods/create/
  // Only the one-version deployment wrangler deploy makes (100 %) is modelled.
  routes.post("/workers/scripts/:scriptName/deployments", async (c) => {
    const found = script(c);
    const body = await readJson(c.req.raw);
    const versions = Array.isArray(body.versions)
      ? (body.versions as { version_id?: unknown; percentage?: unknown }[])
      : [];
    const only = versions[0];
    const version = typeof only?.version_id === "string" ? state.versions.get(only.version_id) : undefined;
    if (versions.length !== 1 || only?.percentage !== 100 || version === undefined || version.name !== found.name) {
      throw ERRORS.badRequest("A deployment here is one version of this Worker at 100 percent.");
    }
    state.scripts.set(found.name, { ...version, modifiedOn: new Date().toISOString() });
    state.versions.delete(version.tag);
    return ok(c, {
      id: newTag(),
      created_on: new Date().toISOString(),
      source: "wrangler",
      strategy: "percentage",
      versions: [{ version_id: version.tag, percentage: 100 }],
    });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/deployments/methods/list/
  // An upload through this route deploys at once: one deployment, its version at 100 %.
  routes.get("/workers/scripts/:scriptName/deployments", (c) => {
    const found = script(c);
    return ok(c, {
      deployments: [
        {
          id: found.etag,
          created_on: found.modifiedOn,
          source: "wrangler",
          strategy: "percentage",
          versions: [{ version_id: found.tag, percentage: 100 }],
        },
      ],
    });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/settings/methods/get/
  routes.get("/workers/scripts/:scriptName/settings", (c) => {
    const found = script(c);
    const secrets = [...found.secrets.keys()].map((secret) => ({ type: "secret_text", name: secret }));
    const vars = [...found.vars].map(([varName, text]) => ({ type: "plain_text", name: varName, text }));
    return ok(c, { bindings: [...found.bindings, ...secrets, ...vars] });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/script_and_version_settings/methods/edit/
  routes.patch("/workers/scripts/:scriptName/script-settings", (c) => {
    script(c);
    return ok(c, {});
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/secrets/methods/list/
  // Names and types only: the API never answers a secret's value.
  routes.get("/workers/scripts/:scriptName/secrets", (c) => {
    return ok(
      c,
      [...script(c).secrets.keys()].map((secret) => ({ name: secret, type: "secret_text" })),
    );
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/schedules/methods/update/
  routes.put("/workers/scripts/:scriptName/schedules", async (c) => {
    const found = script(c);
    const body: unknown = await c.req.json().catch(() => null);
    if (!Array.isArray(body) || !body.every((entry) => typeof entry?.cron === "string")) {
      throw ERRORS.badRequest("The body must be a list of {cron}.");
    }
    found.crons = body.map((entry: { cron: string }) => entry.cron);
    return ok(c, { schedules: found.crons.map((cron) => ({ cron })) });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/subdomains/methods/get/
  routes.get("/workers/subdomain", (c) => {
    if (state.subdomain === null) throw ERRORS.noSubdomain();
    return ok(c, { subdomain: state.subdomain });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/beta/subresources/workers/methods/get/
  // wrangler reads the Worker's workers.dev and preview URL state here before it sets them.
  routes.get("/workers/workers/:scriptName", (c) => {
    const found = script(c);
    return ok(c, {
      id: found.name,
      name: found.name,
      subdomain: { enabled: found.subdomain.enabled, previews_enabled: found.subdomain.previewsEnabled },
    });
  });

  // https://developers.cloudflare.com/api/resources/workers/subresources/scripts/subresources/subdomain/methods/create/
  routes.post("/workers/scripts/:scriptName/subdomain", async (c) => {
    const found = script(c);
    const body = await readJson(c.req.raw);
    if (typeof body.enabled !== "boolean") throw ERRORS.badRequest("enabled must be a boolean.");
    if (body.enabled && state.subdomain === null) throw ERRORS.noSubdomain();
    found.subdomain = {
      enabled: body.enabled,
      previewsEnabled: typeof body.previews_enabled === "boolean" ? body.previews_enabled : body.enabled,
    };
    return ok(c, { enabled: found.subdomain.enabled, previews_enabled: found.subdomain.previewsEnabled });
  });

  return routes;
}

interface UploadMetadata {
  main_module?: unknown;
  bindings?: unknown;
  keep_bindings?: unknown;
  migrations?: { old_tag?: string; new_tag?: string; steps?: MigrationStep[] };
}

interface MigrationStep {
  new_classes?: string[];
  new_sqlite_classes?: string[];
  deleted_classes?: string[];
}

function parseMetadata(part: FormDataEntryValue | null): UploadMetadata {
  if (typeof part !== "string") throw ERRORS.invalidUpload("the upload has no metadata part");
  try {
    const metadata: unknown = JSON.parse(part);
    if (typeof metadata === "object" && metadata !== null) return metadata as UploadMetadata;
  } catch {}
  throw ERRORS.invalidUpload("the metadata part is not a JSON object");
}

/** The `metadata` part of a multipart upload, after checking that the main module is there. */
async function readUpload(request: Request): Promise<UploadMetadata> {
  const form = await request.formData().catch(() => {
    throw ERRORS.badRequest("The upload is not multipart/form-data.");
  });
  const metadata = parseMetadata(form.get("metadata"));
  if (typeof metadata.main_module !== "string" || !form.has(metadata.main_module)) {
    throw ERRORS.invalidUpload("main_module must name a part of the upload");
  }
  return metadata;
}

/**
 * The Worker after an upload, or the API's refusal. A new version replaces every binding; secrets
 * survive only as `inherit` bindings or through `keep_bindings: ["secret_text"]`
 * (https://developers.cloudflare.com/workers/configuration/secrets/#secrets-on-deployed-workers).
 */
function applyUpload(
  state: AccountState,
  name: string,
  previous: Script | undefined,
  metadata: UploadMetadata,
  tag: string,
): Script {
  const migrated = applyMigrations(previous, metadata.migrations);
  const bindings: ScriptBinding[] = [];
  const keep = Array.isArray(metadata.keep_bindings) ? metadata.keep_bindings : [];
  const secrets = new Map(keep.includes("secret_text") ? previous?.secrets : []);
  const vars = new Map<string, string>();
  for (const binding of Array.isArray(metadata.bindings) ? (metadata.bindings as ScriptBinding[]) : []) {
    if (typeof binding?.name !== "string" || typeof binding.type !== "string") {
      throw ERRORS.invalidUpload("every binding needs a name and a type");
    }
    checkBinding(state, name, binding, previous, migrated.classes);
    if (binding.type === "secret_text") secrets.set(binding.name, String(binding.text));
    else if (binding.type === "plain_text" || binding.type === "json") vars.set(binding.name, String(binding.text));
    else if (binding.type === "inherit") {
      const inheritedSecret = previous?.secrets.get(binding.name);
      if (inheritedSecret !== undefined) secrets.set(binding.name, inheritedSecret);
      const inherited = previous?.bindings.find((existing) => existing.name === binding.name);
      if (inherited !== undefined) {
        // What it inherits must still be there: a queue deleted since is refused as a new binding to it would be.
        checkBinding(state, name, inherited, previous, migrated.classes);
        bindings.push(inherited);
      }
    } else if (!VALUE_BINDINGS.has(binding.type)) bindings.push(binding);
  }
  const now = new Date().toISOString();
  return {
    name,
    tag,
    etag: newId(),
    createdOn: previous?.createdOn ?? now,
    modifiedOn: now,
    migrationTag: migrated.tag,
    durableObjectClasses: migrated.classes,
    bindings,
    secrets,
    vars,
    crons: previous?.crons ?? [],
    subdomain: previous?.subdomain ?? { enabled: false, previewsEnabled: false },
  };
}

/**
 * https://developers.cloudflare.com/durable-objects/reference/durable-objects-migrations/: a
 * migration's `old_tag` must be the script's current tag (none for the first), and its steps
 * create or delete classes.
 */
function applyMigrations(
  previous: Script | undefined,
  migrations: UploadMetadata["migrations"],
): { tag: string | null; classes: Set<string> } {
  const current = previous?.migrationTag ?? null;
  const classes = new Set(previous?.durableObjectClasses);
  if (migrations === undefined) return { tag: current, classes };
  if ((migrations.old_tag ?? null) !== current) {
    throw new CloudflareApiError(
      400,
      10079,
      `Cannot apply migration: the script's migration tag is ${JSON.stringify(current)}, not old_tag ${JSON.stringify(migrations.old_tag ?? null)}`,
    );
  }
  for (const step of migrations.steps ?? []) {
    for (const added of [...(step.new_classes ?? []), ...(step.new_sqlite_classes ?? [])]) {
      if (classes.has(added)) throw ERRORS.invalidUpload(`Durable Object class ${added} already exists`);
      classes.add(added);
    }
    for (const deleted of step.deleted_classes ?? []) classes.delete(deleted);
  }
  return { tag: migrations.new_tag ?? current, classes };
}

/** What the API checks of one binding: the resource it names must exist on the account. */
function checkBinding(
  state: AccountState,
  scriptName: string,
  binding: ScriptBinding,
  previous: Script | undefined,
  classes: Set<string>,
): void {
  switch (binding.type) {
    case "inherit":
      // The binding of that name in the deployed version, a secret or a resource (wrangler inherits a
      // provisioned queue this way). With `bindings_inherit=strict`, what wrangler sends, a binding
      // with nothing to inherit is refused.
      if (
        previous?.secrets.has(binding.name) !== true &&
        !previous?.bindings.some((existing) => existing.name === binding.name)
      ) {
        throw ERRORS.invalidUpload(`inherit binding '${binding.name}' is invalid`);
      }
      return;
    case "kv_namespace":
      if (typeof binding.namespace_id !== "string" || !state.kvNamespaces.has(binding.namespace_id)) {
        throw new CloudflareApiError(400, 10041, `KV namespace '${String(binding.namespace_id)}' is not valid.`);
      }
      return;
    case "queue":
      if (typeof binding.queue_name !== "string" || findQueueByName(state, binding.queue_name) === undefined) {
        throw ERRORS.invalidUpload(`Queue '${String(binding.queue_name)}' does not exist`);
      }
      return;
    case "service":
      if (typeof binding.service !== "string" || !state.scripts.has(binding.service)) {
        throw ERRORS.invalidUpload(
          `Could not resolve service binding '${binding.name}': no Worker '${String(binding.service)}'`,
        );
      }
      return;
    case "durable_object_namespace": {
      const owner = typeof binding.script_name === "string" ? binding.script_name : scriptName;
      const ownerClasses = owner === scriptName ? classes : state.scripts.get(owner)?.durableObjectClasses;
      if (typeof binding.class_name !== "string" || ownerClasses?.has(binding.class_name) !== true) {
        throw ERRORS.invalidUpload(
          `Durable Object class '${String(binding.class_name)}' has no migration that creates it on '${owner}'`,
        );
      }
      return;
    }
  }
}
