/**
 * The questions `pnpm run deploy` asks on a terminal. Off a terminal (CI, a test) nothing is asked:
 * a secret not given in the environment is simply absent, and a setting must come from a flag.
 */

import { createInterface } from "node:readline/promises";
import { Writable } from "node:stream";

/** Asked for something off a terminal, where only flags and the environment can answer. */
export class NotATerminalError extends Error {}

const interactive = (): boolean => process.stdin.isTTY === true && process.stdout.isTTY === true;

/** A visible answer, or `fallback` when empty; off a terminal, `fallback` or an error. */
export async function askText(question: string, fallback?: string): Promise<string> {
  if (!interactive()) {
    if (fallback !== undefined) return fallback;
    throw new NotATerminalError(`${question}: not a terminal, so pass it as a flag or in the environment.`);
  }
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await prompt.question(`${question}${fallback === undefined ? "" : ` [${fallback}]`}: `)).trim();
    return answer.length > 0 ? answer : (fallback ?? answer);
  } finally {
    prompt.close();
  }
}

/** A hidden answer (nothing is echoed, so it stays out of the terminal's scrollback); undefined off a terminal. */
export async function askSecret(question: string): Promise<string | undefined> {
  if (!interactive()) return undefined;
  // readline echoes each key to its output: past the question, that output drops everything.
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  const prompt = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answering = prompt.question(`${question}: `);
    muted = true;
    const answer = await answering;
    process.stdout.write("\n");
    return answer.trim();
  } finally {
    prompt.close();
  }
}
