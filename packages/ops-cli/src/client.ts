/**
 * The ops API over HTTP (workers/deliver/src/ops, reached through ingest's address): one method per
 * route, and every way a call can fail turned into a {@link CliError} with a one-line message and
 * the exit code that says what to fix.
 */

import type {
  DeadLetterListing,
  DeadLetterView,
  DeliverErrorCode,
  DiscardAnswer,
  ErrorBody,
  OpsStats,
  ReplayAnswer,
  ReplayRequest,
  RevokeTokensRequest,
  TokensRevoked,
} from "@notepipe/pipeline";
import { CliError } from "./errors.ts";

export interface ListFilter {
  reason?: string | undefined;
  since?: string | undefined;
}

export interface OpsClientOptions {
  baseUrl: string;
  token: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** Refusals that leave the job unfinished, not wrongly asked: the exit code says "incomplete". */
const INCOMPLETE: ReadonlySet<string> = new Set<DeliverErrorCode>(["dead_letter_not_found", "note_in_queue"]);

function isErrorBody(value: unknown): value is ErrorBody {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ErrorBody).error === "string" &&
    typeof (value as ErrorBody).message === "string"
  );
}

/** Why a fetch threw, in words: Node's undici hides the code in `cause`. */
function networkProblem(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "no answer in time";
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "unknown host";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    default:
      return code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  }
}

export class OpsClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: OpsClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new CliError("usage", `"${options.baseUrl}" is not a URL; give --url http(s)://host[:port].`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new CliError("usage", `"${options.baseUrl}" is not an http(s) URL.`);
    }
    this.baseUrl = url.origin + url.pathname.replace(/\/+$/, "");
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  listDeadLetters(filter: ListFilter, cursor: string | null, limit = 1000): Promise<DeadLetterListing> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (filter.reason !== undefined) query.set("reason", filter.reason);
    if (filter.since !== undefined) query.set("since", filter.since);
    if (cursor !== null) query.set("cursor", cursor);
    return this.#call("GET", `/ops/dead-letters?${query}`);
  }

  /** Every entry matching `filter`, page after page. */
  async allDeadLetters(filter: ListFilter): Promise<DeadLetterView[]> {
    const entries: DeadLetterView[] = [];
    let cursor: string | null = null;
    do {
      const page: DeadLetterListing = await this.listDeadLetters(filter, cursor);
      entries.push(...page.deadLetters);
      cursor = page.cursor;
    } while (cursor !== null);
    return entries;
  }

  /** Possibly-sent entries come back skipped unless `includePossiblySent`: the reader may get two emails. */
  replay(ids: readonly string[], options: { includePossiblySent?: boolean } = {}): Promise<ReplayAnswer> {
    const body: ReplayRequest =
      options.includePossiblySent === true ? { ids: [...ids], includePossiblySent: true } : { ids: [...ids] };
    return this.#call("POST", "/ops/dead-letters/replay", body);
  }

  discard(id: string): Promise<DiscardAnswer> {
    return this.#call("DELETE", `/ops/dead-letters/${encodeURIComponent(id)}`);
  }

  stats(): Promise<OpsStats> {
    return this.#call("GET", "/ops/stats");
  }

  /** Refuses the address's client tokens issued until now (ingest applies it within `appliesWithinSeconds`). */
  revokeTokens(to: string): Promise<TokensRevoked> {
    const body: RevokeTokensRequest = { to };
    return this.#call("POST", "/ops/tokens/revoke", body);
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw new CliError(
        "unreachable",
        `cannot reach ${this.baseUrl} (${networkProblem(error)}); is the stack running (pnpm dev)? Set --url or NOTEPIPE_OPS_URL.`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError(
        "not_ops_api",
        `${method} ${url} answered ${response.status} with no JSON: is ${this.baseUrl} the notepipe ingest (or deliver) Worker?`,
      );
    }
    if (response.ok) return json as T;
    if (!isErrorBody(json)) {
      throw new CliError("not_ops_api", `${method} ${url} answered ${response.status}: not the notepipe ops API.`);
    }
    if (response.status === 401 || response.status === 403) {
      throw new CliError(
        "refused",
        `the ops API refused the token (${json.message}) Set --token or NOTEPIPE_OPS_TOKEN.`,
      );
    }
    if (INCOMPLETE.has(json.error)) {
      throw new CliError("incomplete", json.message);
    }
    if (response.status === 404) {
      throw new CliError(
        "not_ops_api",
        `${url} is not an ops route (404): is ${this.baseUrl} the notepipe ingest Worker?`,
      );
    }
    if (response.status >= 500) throw new CliError("server_error", `the ops API failed: ${json.message}`);
    // A 4xx we sent: our request was wrong, which the flags should have caught.
    throw new CliError("usage", json.message);
  }
}
