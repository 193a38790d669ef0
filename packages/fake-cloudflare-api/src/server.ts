/**
 * The fake on a port of 127.0.0.1, for wrangler to reach through `CLOUDFLARE_API_BASE_URL`.
 */

import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { API_PATH, createFakeCloudflareApi, type FakeCloudflareApi, type FakeCloudflareApiOptions } from "./app.ts";

export interface RunningFakeCloudflareApi extends FakeCloudflareApi {
  /** What `CLOUDFLARE_API_BASE_URL` is set to: `http://127.0.0.1:<port>/client/v4`. */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1 on a free port: nothing here is meant for the network.
 *
 * @example
 * const api = await startFakeCloudflareApi({ apiToken: "t", accountId: "0123456789abcdef0123456789abcdef" });
 * // run wrangler with CLOUDFLARE_API_BASE_URL=api.baseUrl, then read api.requests and api.state
 * await api.close();
 */
export async function startFakeCloudflareApi(options: FakeCloudflareApiOptions): Promise<RunningFakeCloudflareApi> {
  const api = createFakeCloudflareApi(options);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = serve({ fetch: api.app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
      resolve(listening as Server),
    );
    listening.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    ...api,
    baseUrl: `http://127.0.0.1:${port}${API_PATH}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
