/**
 * One Cloudflare account, in memory: what the fake's routes read and change, and what a test sets up
 * before a run (a queue deleted, a subdomain not registered yet) and inspects after it.
 */

import { randomBytes, randomUUID } from "node:crypto";

/** A binding as the upload's `metadata.bindings` names it, its value left out for a secret. */
export interface ScriptBinding {
  type: string;
  name: string;
  [field: string]: unknown;
}

export interface Script {
  name: string;
  /** Changes on every upload: one upload is one version. */
  tag: string;
  etag: string;
  createdOn: string;
  modifiedOn: string;
  /** The latest Durable Object migration applied, or null before the first. */
  migrationTag: string | null;
  /** Durable Object classes the applied migrations created. */
  durableObjectClasses: Set<string>;
  /** Every binding but secrets and plain-text vars. */
  bindings: ScriptBinding[];
  /** Secret values by name: the API never answers them, tests read them here. */
  secrets: Map<string, string>;
  vars: Map<string, string>;
  crons: string[];
  /** workers.dev route and preview URLs (`POST …/subdomain`). */
  subdomain: { enabled: boolean; previewsEnabled: boolean };
}

export interface Queue {
  queue_id: string;
  queue_name: string;
  created_on: string;
  modified_on: string;
  consumers: QueueConsumer[];
}

export interface QueueConsumer {
  consumer_id: string;
  type: "worker";
  script: string;
  dead_letter_queue?: string;
  settings: Record<string, unknown>;
  created_on: string;
}

export interface KvNamespace {
  id: string;
  title: string;
  supports_url_encoding: boolean;
}

export interface AccountState {
  accountId: string;
  /** The account's `<name>.workers.dev` subdomain, or null while none is registered. */
  subdomain: string | null;
  scripts: Map<string, Script>;
  /** By queue_id. */
  queues: Map<string, Queue>;
  /** By namespace id. */
  kvNamespaces: Map<string, KvNamespace>;
  /** Versions uploaded but not deployed yet, by version id: what the Worker becomes once deployed. */
  versions: Map<string, Script>;
}

export function createAccountState(accountId: string, subdomain: string | null): AccountState {
  return { accountId, subdomain, scripts: new Map(), queues: new Map(), kvNamespaces: new Map(), versions: new Map() };
}

/** Cloudflare's identifiers are 32 lowercase hex digits. */
export function newId(): string {
  return randomBytes(16).toString("hex");
}

export function newTag(): string {
  return randomUUID();
}

export function findQueueByName(state: AccountState, name: string): Queue | undefined {
  return [...state.queues.values()].find((queue) => queue.queue_name === name);
}
