/**
 * One local stack (with delivery webhooks) and one demo server for every browser test file: a
 * stack takes tens of seconds to start on two cores, and the files share it without sharing a
 * browser profile (each launches its own Chromium).
 */

import { startStack } from "@notepipe/local-stack";
import type { TestProject } from "vitest/node";
import { startWebDemo } from "../src/server.ts";

export interface DemoUrls {
  /** The demo page. */
  web: string;
  ingest: string;
  /** The local mail provider (GET /inbox). */
  provider: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    demo: DemoUrls;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stack = await startStack({ ingestPort: 0, providerPort: 0, ephemeral: true, deliveryWebhooks: true });
  const web = await startWebDemo({
    port: 0,
    ingestUrl: stack.ingestUrl,
    providerUrl: stack.providerUrl,
  }).catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  project.provide("demo", { web: web.url, ingest: stack.ingestUrl, provider: stack.providerUrl });
  return async () => {
    await web.close();
    await stack.stop();
  };
}
