/**
 * Failover as the notes consumer sees it: which listed providers the ledger may route a claim to,
 * which provider a planned request goes to, and how long a note waits after a pipeline-level
 * failure when another provider can take it. The circuits themselves live in the ledger
 * (ledger/circuits.ts), which decides inside the claim and moves them inside the settle.
 */

import type { CircuitSettings, DeliverConfig, ProviderConfig } from "../config.ts";
import type { Failover, SendPlan } from "../ledger/types.ts";
import { pipelineDelaySeconds, type RetrySettings, retryDelaySeconds } from "../queue/backoff.ts";

/**
 * What the claim is told about the providers: nothing for a list of one, which keeps no circuit
 * and behaves as a single provider always has; else each in order, with its key window and sender.
 */
export function failoverOf(config: DeliverConfig, keyWindowMs: number): Failover | undefined {
  if (config.providers.length < 2) return undefined;
  return {
    providers: config.providers.map(({ provider, send }) => ({
      name: provider.name,
      keyWindowMs: provider.idempotent ? keyWindowMs : 0,
      fromJson: send.fromJson,
    })),
    circuit: config.circuit,
  };
}

/** The settings the settle moves the circuits by, when there are circuits. */
export function circuitOf(config: DeliverConfig): CircuitSettings | undefined {
  return config.providers.length < 2 ? undefined : config.circuit;
}

/**
 * The provider a planned request goes to: the one the ledger recorded for it, else (a request
 * made before failover, or a list of one) the first listed. A request is never moved to another.
 */
export function providerOf(config: DeliverConfig, plan: SendPlan): ProviderConfig | undefined {
  if (plan.provider == null) return config.providers[0];
  return config.providers.find((listed) => listed.provider.name === plan.provider);
}

/**
 * The wait after a pipeline-level failure (a refused key, sender or quota). Alone, the provider
 * needs a person: PIPELINE_RETRY_SECONDS. With another listed, the failure has just opened its
 * circuit and the next claim routes the note elsewhere, so it waits as a transient failure would.
 */
export function pipelineWaitSeconds(
  config: DeliverConfig,
  attempts: number,
  retry: RetrySettings,
  retryAfterSeconds: number | null,
): number {
  return config.providers.length < 2
    ? pipelineDelaySeconds(retry, retryAfterSeconds)
    : retryDelaySeconds(attempts, retry, null);
}
