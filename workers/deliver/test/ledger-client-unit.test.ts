/**
 * `callLedger` (src/ledger/client.ts) as Cloudflare's Durable Object error rules ask
 * (https://developers.cloudflare.com/durable-objects/best-practices/error-handling/): an overloaded
 * object is not asked again, a retryable failure is asked again on a fresh stub, an error of the
 * ledger's own code is not repeated; and what a consumer does when the ledger is overloaded.
 */

import { describe, expect, it } from "vitest";
import { callLedger, type Ledger } from "../src/ledger/client.ts";
import { envWith } from "./ledger.ts";
import { makeNote, messageOf, mockProvider, runQueue } from "./notes.ts";

/** An error as the runtime throws it, with the properties Cloudflare documents. */
function durableObjectError(message: string, flags: { retryable?: boolean; overloaded?: boolean; remote?: boolean }) {
  return Object.assign(new Error(message), flags);
}

/**
 * A `LEDGER` whose every stub answers `claim` with the next of `answers` (an error is thrown), and
 * counts the stubs taken and the calls each stub got.
 */
function scriptedLedger(answers: (Error | string)[]) {
  const calls: number[] = [];
  const namespace = {
    getByName() {
      const stub = calls.length;
      calls.push(0);
      return {
        async claim() {
          calls[stub] = (calls[stub] ?? 0) + 1;
          const answer = answers.shift();
          if (answer === undefined) throw new Error("the test gave no more answers");
          if (answer instanceof Error) throw answer;
          return answer;
        },
      };
    },
  };
  return { env: envWith({ LEDGER: namespace as unknown as Env["LEDGER"] }), calls };
}

const claim = (ledger: Ledger) => (ledger as unknown as { claim(): Promise<string> }).claim();

describe("callLedger", () => {
  it("does not ask an overloaded ledger again", async () => {
    const overloaded = durableObjectError("Durable Object is overloaded. Too many requests queued.", {
      overloaded: true,
      retryable: true,
    });
    const ledger = scriptedLedger([overloaded, "answer"]);

    await expect(callLedger(ledger.env, claim)).rejects.toBe(overloaded);
    expect(ledger.calls).toEqual([1]);
  });

  it("asks again on a fresh stub after a retryable failure", async () => {
    const reset = durableObjectError("Network connection lost.", { retryable: true });
    const ledger = scriptedLedger([reset, "answer"]);

    await expect(callLedger(ledger.env, claim)).resolves.toBe("answer");
    expect(ledger.calls).toEqual([1, 1]);
  });

  it("gives up after three attempts when every one is retryable", async () => {
    const reset = durableObjectError("Network connection lost.", { retryable: true });
    const ledger = scriptedLedger([reset, reset, reset, "answer"]);

    await expect(callLedger(ledger.env, claim)).rejects.toBe(reset);
    expect(ledger.calls).toEqual([1, 1, 1]);
  });

  it("does not repeat an error the ledger's own code threw, and the next call takes a fresh stub", async () => {
    const thrown = durableObjectError("ledger: note cannot move from sent to retrying", { remote: true });
    const ledger = scriptedLedger([thrown, "answer"]);

    await expect(callLedger(ledger.env, claim)).rejects.toBe(thrown);
    await expect(callLedger(ledger.env, claim)).resolves.toBe("answer");
    expect(ledger.calls).toEqual([1, 1]);
  });
});

describe("the notes consumer and an overloaded ledger", () => {
  it("claims once, sends nothing and retries every message on the outage backoff", async () => {
    const overloaded = durableObjectError("Durable Object is overloaded.", { overloaded: true });
    const ledger = scriptedLedger([overloaded]);
    const sent = mockProvider();
    const message = messageOf(makeNote());

    const result = await runQueue("notes", [message], ledger.env);

    expect(ledger.calls).toEqual([1]);
    expect(sent).toEqual([]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toEqual([{ msgId: message.id, delaySeconds: expect.any(Number) }]);
  });
});
