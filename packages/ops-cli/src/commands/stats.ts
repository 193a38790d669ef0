/** `pnpm ops stats`: notes per state, dead letters per reason, and how far KV is behind the ledger. */

import { NOTE_STATES, type OpsStats } from "@notepipe/pipeline";
import type { Command } from "commander";
import type { CommandContext } from "../program.ts";

/** "sent 120 · delivered 80", in the order of `order` where it gives one. */
function counts(values: Readonly<Record<string, number | undefined>>, order: readonly string[] = []): string {
  const keys = Object.keys(values).sort((a, b) => {
    const [i, j] = [order.indexOf(a), order.indexOf(b)];
    return (i === -1 ? order.length : i) - (j === -1 ? order.length : j) || a.localeCompare(b);
  });
  return keys.length === 0 ? "none" : keys.map((key) => `${key} ${values[key]}`).join(" · ");
}

export function addStatsCommand(program: Command, context: CommandContext): void {
  program
    .command("stats")
    .description("how many notes are in each state, dead letters per reason, and what waits to be repaired")
    .action(async (_options: unknown, command: Command) => {
      const stats = await context.client(command).stats();
      if (context.options(command).json) return context.print(JSON.stringify(stats, null, 2));
      const { deadLetters } = stats;
      context.print(`notes         ${stats.records} in the delivery ledger`);
      context.print(`  by state    ${counts(stats.states, NOTE_STATES)}`);
      context.print(`dead letters  ${deadLetters.total} (possibly sent: ${deadLetters.possiblySent})`);
      context.print(`  by reason   ${counts(deadLetters.byReason)}`);
      context.print(`KV behind     ${stats.behind} status record(s) the Cron repair has yet to write`);
      context.print(`unanswered    ${stats.unanswered} request(s) waiting to be sent again under their key`);
      for (const line of circuitLines(stats.circuits ?? [])) context.print(line);
    });
}

/**
 * Failover (more than one provider listed): where new batches go, and each provider's circuit.
 * Nothing with one provider, which keeps no circuit.
 */
function circuitLines(circuits: NonNullable<OpsStats["circuits"]>): string[] {
  if (circuits.length === 0) return [];
  const routed = circuits.find((circuit) => circuit.routed)?.provider ?? "none yet";
  const lines = [`providers     new batches go to ${routed}`];
  for (const circuit of circuits) {
    let state: string = circuit.state.replace("_", "-");
    if (circuit.reason !== undefined) state += ` (${circuit.reason})`;
    if (circuit.openedAt !== undefined) state += ` since ${circuit.openedAt}`;
    if (circuit.probeAt !== undefined) {
      state += circuit.state === "open" ? `, probed at ${circuit.probeAt}` : `, probe held until ${circuit.probeAt}`;
    }
    lines.push(`  ${circuit.provider.padEnd(11)} ${state}; switched to ${circuit.switches} time(s)`);
  }
  return lines;
}
