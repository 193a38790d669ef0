/**
 * The local provider on a Node port, for `pnpm dev`, the demo and the end-to-end tests.
 */

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createLocalProvider, type LocalProvider } from "./app.ts";
import type { LocalProviderOptions } from "./state.ts";

/** Beside wrangler dev's 8787; the deliver Worker's `MAIL_API_URL` points here by default. */
export const DEFAULT_PROVIDER_PORT = 8788;

export interface StartLocalProviderOptions extends LocalProviderOptions {
  /** 0 picks a free port. Default 8788. */
  port?: number;
  /** Default 127.0.0.1: nothing here is meant for the network. */
  hostname?: string;
}

export interface RunningLocalProvider extends LocalProvider {
  url: string;
  port: number;
  /** Stops listening and drops open connections, hanging requests included. */
  close(): Promise<void>;
}

/**
 * @example
 * const provider = await startLocalProvider({ port: 0 });
 * await fetch(`${provider.url}/inbox`);
 * await provider.close();
 */
export async function startLocalProvider(options: StartLocalProviderOptions = {}): Promise<RunningLocalProvider> {
  const { port = DEFAULT_PROVIDER_PORT, hostname = "127.0.0.1", ...providerOptions } = options;
  const provider = createLocalProvider(providerOptions);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = serve({ fetch: provider.app.fetch, port, hostname }, () => resolve(listening as Server));
    listening.once("error", reject);
  });
  const address = server.address() as AddressInfo;
  return {
    ...provider,
    url: `http://${hostname}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        provider.state.webhooks?.stop();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
