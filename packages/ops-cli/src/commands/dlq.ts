/**
 * `pnpm ops dlq list|replay|discard`: the dead letters the deliver Worker holds.
 *
 * A replay first lists what it will replay (so the progress bar knows its total), then sends the
 * ids 100 at a time; the API skips what is already sent or queued, so running it twice, or after
 * an interruption, sends nothing twice. It also skips what the provider may already have sent,
 * unless `--include-possibly-sent` says to replay those too.
 */

import { DELIVERY_ERROR_CODES, type DeadLetterView, type ReplayResult } from "@notepipe/pipeline";
import { Presets, SingleBar } from "cli-progress";
import { type Command, InvalidArgumentError, Option } from "commander";
import { CliError } from "../errors.ts";
import type { CommandContext } from "../program.ts";

/** Ids per replay request: a tenth of what the API takes, so the bar moves and a retry is cheap. */
export const REPLAY_CHUNK = 100;

const UNITS_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: an ISO 8601 time, or a duration back from now (`90m`, `2h`, `7d`).
 *
 * @example
 * parseSince("2h", Date.parse("2026-11-23T12:00:00Z")); // "2026-11-23T10:00:00.000Z"
 */
export function parseSince(value: string, now = Date.now()): string {
  const relative = /^(\d{1,6})([mhd])$/.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * (UNITS_MS[relative[2] as string] as number)).toISOString();
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError("Give an ISO 8601 time (2026-11-23T08:00:00Z) or 90m, 2h, 7d.");
  return new Date(at).toISOString();
}

const reasonOption = () =>
  new Option("--reason <code>", "only dead letters with this reason").choices(DELIVERY_ERROR_CODES);
const sinceOption = () =>
  new Option(
    "--since <time>",
    "only dead letters whose last failure is at or after this (ISO time, or 90m, 2h, 7d)",
  ).argParser((value: string) => parseSince(value));

function table(entries: DeadLetterView[]): string[] {
  const rows = entries.map((entry) => [
    entry.id,
    entry.reason,
    String(entry.attempts),
    entry.lastFailureAt,
    entry.recipient ?? "-",
    entry.possiblySent ? "possibly sent" : "",
  ]);
  const header = ["ID", "REASON", "ATTEMPTS", "LAST FAILURE", "RECIPIENT", ""];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] as string).length)));
  return [header, ...rows].map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd(),
  );
}

/** "already_sent 2, not_found 1" */
function byReason(results: ReplayResult[], outcome: "skipped" | "failed"): string {
  const counts = new Map<string, number>();
  for (const result of results) {
    if (result.outcome === outcome) counts.set(result.reason, (counts.get(result.reason) ?? 0) + 1);
  }
  return [...counts].map(([reason, count]) => `${reason} ${count}`).join(", ");
}

interface ReplayOptions {
  all?: boolean;
  since?: string;
  reason?: string;
  includePossiblySent?: boolean;
}

export function addDlqCommands(program: Command, context: CommandContext): void {
  const dlq = program.command("dlq").description("the dead-letter store: notes deliver gave up on");

  dlq
    .command("list")
    .description("list dead letters (recipients masked, never content)")
    .addOption(reasonOption())
    .addOption(sinceOption())
    .action(async (options: { reason?: string; since?: string }, command: Command) => {
      const entries = await context.client(command).allDeadLetters(options);
      if (context.options(command).json) return context.print(JSON.stringify(entries, null, 2));
      if (entries.length > 0) for (const line of table(entries)) context.print(line);
      context.print(`${entries.length} dead letter${entries.length === 1 ? "" : "s"}`);
    });

  dlq
    .command("replay")
    .description("put dead letters back on the queue: --all, --since T, or the ids given")
    .argument("[ids...]", "dead-letter ids (note ids)")
    .option("--all", "every dead letter")
    .addOption(sinceOption())
    .addOption(reasonOption())
    .option(
      "--include-possibly-sent",
      "also replay the entries the provider may already have sent (their readers may get the email twice)",
    )
    .action(async (ids: string[], options: ReplayOptions, command: Command) => {
      const forms = [ids.length > 0, options.all === true, options.since !== undefined].filter(Boolean).length;
      if (forms !== 1) throw new CliError("usage", "give exactly one of --all, --since <time> or dead-letter ids.");
      if (ids.length > 0 && options.reason !== undefined) {
        throw new CliError("usage", "--reason goes with --all or --since, not with ids.");
      }
      const client = context.client(command);
      const json = context.options(command).json === true;
      const targets =
        ids.length > 0
          ? [...new Set(ids)]
          : (await client.allDeadLetters({ reason: options.reason, since: options.since })).map((entry) => entry.id);
      if (targets.length === 0) {
        const nothing = { replayed: 0, skipped: 0, failed: 0, skippedPossiblySent: 0, results: [] };
        context.print(json ? JSON.stringify(nothing) : "nothing to replay: no dead letter matches");
        return;
      }

      const totals = { replayed: 0, skipped: 0, failed: 0, skippedPossiblySent: 0 };
      const replayOptions = { includePossiblySent: options.includePossiblySent === true };
      const results: ReplayResult[] = [];
      const bar = new SingleBar(
        {
          stream: context.io.stderr,
          format: "replaying [{bar}] {value}/{total} | replayed {replayed}, skipped {skipped}, failed {failed}",
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      bar.start(targets.length, 0, totals);
      let interrupted: unknown;
      try {
        for (let start = 0; start < targets.length; start += REPLAY_CHUNK) {
          let chunk = targets.slice(start, start + REPLAY_CHUNK);
          while (chunk.length > 0) {
            const answer = await client.replay(chunk, replayOptions);
            totals.replayed += answer.replayed;
            totals.skipped += answer.skipped;
            totals.failed += answer.failed;
            totals.skippedPossiblySent += answer.skippedPossiblySent;
            results.push(...answer.results);
            chunk = answer.remaining ?? [];
            bar.update(results.length, totals);
          }
        }
      } catch (error) {
        interrupted = error;
      } finally {
        bar.stop();
      }

      if (json) {
        context.print(JSON.stringify({ ...totals, results }, null, 2));
      } else {
        const skipped = totals.skipped > 0 ? ` (${byReason(results, "skipped")})` : "";
        const failed = totals.failed > 0 ? ` (${byReason(results, "failed")})` : "";
        context.print(
          `replayed ${totals.replayed}, skipped ${totals.skipped}${skipped}, failed ${totals.failed}${failed}, of ${targets.length}`,
        );
        for (const result of results) {
          if (result.outcome === "failed") context.print(`  failed  ${result.id}  ${result.reason}`);
        }
        if (totals.skippedPossiblySent > 0) {
          context.print(
            `${totals.skippedPossiblySent} possibly sent, not replayed: the provider may already have sent them; --include-possibly-sent replays them (their readers may get the email twice)`,
          );
        }
      }
      if (interrupted !== undefined) {
        if (interrupted instanceof CliError) {
          throw new CliError(
            interrupted.kind,
            `${interrupted.message} (stopped after ${results.length} of ${targets.length}; running the replay again is safe)`,
          );
        }
        throw interrupted;
      }
      if (totals.failed > 0) {
        throw new CliError(
          "incomplete",
          `${totals.failed} note(s) could not be put back on the queue; run the replay again.`,
        );
      }
    });

  dlq
    .command("discard")
    .description("give up on one note: its dead letter goes, its state stays failed (reason discarded)")
    .argument("<id>", "the dead-letter id (note id)")
    .action(async (id: string, _options: unknown, command: Command) => {
      const answer = await context.client(command).discard(id);
      if (context.options(command).json) context.print(JSON.stringify(answer));
      else context.print(`discarded ${answer.id}: state ${answer.state}`);
    });
}
