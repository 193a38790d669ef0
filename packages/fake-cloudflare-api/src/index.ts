export {
  API_PATH,
  createFakeCloudflareApi,
  type FakeCloudflareApi,
  type FakeCloudflareApiOptions,
  type RecordedRequest,
} from "./app.ts";
export { CloudflareApiError, ERRORS } from "./envelope.ts";
export { type RunningFakeCloudflareApi, startFakeCloudflareApi } from "./server.ts";
export type { AccountState, KvNamespace, Queue, QueueConsumer, Script, ScriptBinding } from "./state.ts";
