/**
 * The demo's service worker: the page's shell (the page and its script) from the network when it
 * answers, else from the cache, so that the page opens, and notes can be written, with no network.
 * It leaves every other request alone: the outbox's requests go out as the page makes them.
 */

// The DOM and WebWorker libs exclude each other in one project; these are the parts used here.
interface ExtendableEvent extends Event {
  waitUntil(promise: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  readonly request: Request;
  respondWith(response: Promise<Response>): void;
}
interface ServiceWorkerScope {
  addEventListener(type: "install" | "activate", listener: (event: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", listener: (event: FetchEvent) => void): void;
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
}

const worker = self as unknown as ServiceWorkerScope;
const CACHE = "notepipe-demo-shell";
const SHELL = ["/", "/page.js"];

worker.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => worker.skipWaiting()),
  );
});

worker.addEventListener("activate", (event) => {
  event.waitUntil(worker.clients.claim());
});

worker.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !SHELL.includes(new URL(request.url).pathname)) return;
  event.respondWith(
    fetch(request).then(
      async (response) => {
        if (response.ok) await (await caches.open(CACHE)).put(request, response.clone());
        return response;
      },
      async (error: unknown) => (await caches.match(request)) ?? Promise.reject(error),
    ),
  );
});
