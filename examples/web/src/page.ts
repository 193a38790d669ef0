/**
 * The demo page's script, bundled with @notepipe/client by server.ts. Everything notepipe-specific
 * is an SDK call: generateKey / importKeyJwk, send, resumeOnOpen, decrypt. The rest is DOM.
 * The endpoint is "" (this page's origin): the demo server passes /v1/* on to ingest.
 */

import {
  type ClientNoteState,
  decrypt,
  exportKeyJwk,
  exportKeyRaw,
  generateKey,
  importKeyJwk,
  LocalStoragePendingStore,
  NotepipeError,
  resumeOnOpen,
  send,
} from "@notepipe/client";

const KEY_ITEM = "notepipe-demo:key";
const POLL_INTERVAL_MS = 1000;
/** From `sent` on, the local provider holds the email. */
const HAS_EMAIL: ReadonlySet<ClientNoteState> = new Set(["sent", "delivered", "bounced", "complained"]);

const client = { endpoint: "", store: new LocalStoragePendingStore() };

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`index.html has no #${id}`);
  return found as T;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the key ----------------------------------------------------------------------------------

async function loadKey(): Promise<CryptoKey> {
  const stored = localStorage.getItem(KEY_ITEM);
  if (stored !== null) return importKeyJwk(JSON.parse(stored) as JsonWebKey);
  return newKey();
}

async function newKey(): Promise<CryptoKey> {
  const created = await generateKey();
  localStorage.setItem(KEY_ITEM, JSON.stringify(await exportKeyJwk(created)));
  return created;
}

async function showFingerprint(of: CryptoKey): Promise<void> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await exportKeyRaw(of)));
  const hex = Array.from(digest.subarray(0, 8), (byte) => byte.toString(16).padStart(2, "0")).join("");
  element("key-fingerprint").textContent = hex.replace(/(.{4})(?!$)/g, "$1 ");
}

let key = await loadKey();
await showFingerprint(key);
element<HTMLButtonElement>("new-key").addEventListener("click", async () => {
  key = await newKey();
  await showFingerprint(key);
});

// --- the notes --------------------------------------------------------------------------------

interface Row {
  item: HTMLLIElement;
  states: HTMLOListElement;
  mail: HTMLDivElement;
  seen: ClientNoteState[];
  email: "none" | "loading" | "shown";
}

const rows = new Map<string, Row>();
const list = element<HTMLOListElement>("notes");

function rowFor(id: string, to: string | null): Row {
  let row = rows.get(id);
  if (row !== undefined) return row;
  const item = make("li", "note");
  item.dataset.noteId = id;
  const head = make("div", "note-head");
  head.append(
    make("code", "note-id", id),
    make("span", "note-to", to === null ? "(sent on an earlier visit)" : `to ${to}`),
  );
  const states = make("ol", "states");
  const mail = make("div", "mail");
  mail.hidden = true;
  item.append(head, states, mail);
  list.prepend(item);
  row = { item, states, mail, seen: [], email: "none" };
  rows.set(id, row);
  return row;
}

function showState(row: Row, state: ClientNoteState, error?: string): void {
  if (row.seen.at(-1) === state) return;
  row.seen.push(state);
  row.item.dataset.state = state;
  for (const old of row.states.querySelectorAll(".current")) old.classList.remove("current");
  const step = make("li", `state current state-${state}`, state);
  step.title = new Date().toLocaleTimeString();
  if (error !== undefined) step.title += ` — ${error}`;
  row.states.append(step);
  if (HAS_EMAIL.has(state) && row.email === "none") void showEmail(row);
}

/** The recipient's side: the email from the local inbox, and what the key makes of it. */
async function showEmail(row: Row): Promise<void> {
  row.email = "loading";
  const id = row.item.dataset.noteId as string;
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await fetch(`/inbox?note_id=${encodeURIComponent(id)}`);
    const { emails } = (await res.json()) as { emails: { text: string | null; to: string[]; subject: string }[] };
    const email = emails[0];
    if (email?.text) {
      const plaintext = make("output", "plaintext");
      try {
        plaintext.textContent = await decrypt(email.text, key);
      } catch (error) {
        plaintext.classList.add("error");
        plaintext.textContent = error instanceof NotepipeError ? `${error.code}: ${error.message}` : String(error);
      }
      row.mail.replaceChildren(
        make("h3", "", `The email in the local inbox: “${email.subject}” to ${email.to.join(", ")}`),
        make("pre", "ciphertext", email.text),
        make("h3", "", "Decrypted in this browser with the key"),
        plaintext,
      );
      row.mail.hidden = false;
      row.email = "shown";
      return;
    }
    await delay(500);
  }
  row.email = "none";
}

// --- polling: resumeOnOpen on load, then every second while something is pending ---------------

let wake = false;
let polling = false;

function poll(): void {
  wake = true;
  if (!polling) void pollLoop();
}

async function pollLoop(): Promise<void> {
  polling = true;
  try {
    while (wake) {
      wake = false;
      const { changes, pending } = await resumeOnOpen(client);
      for (const note of pending) showState(rowFor(note.id, null), note.state);
      for (const change of changes) showState(rowFor(change.id, null), change.state, change.error);
      if (pending.length > 0) {
        wake = true;
        await delay(POLL_INTERVAL_MS);
      }
    }
  } catch (error) {
    element("poll-status").textContent =
      error instanceof NotepipeError ? `Polling failed: ${error.message}` : String(error);
  } finally {
    polling = false;
  }
}

// --- sending ----------------------------------------------------------------------------------

const form = element<HTMLFormElement>("compose");
const sendStatus = element("send-status");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = element<HTMLInputElement>("to").value.trim();
  const text = element<HTMLTextAreaElement>("text").value;
  const button = element<HTMLButtonElement>("send");
  button.disabled = true;
  sendStatus.className = "";
  sendStatus.textContent = "Encrypting and sending…";
  try {
    // Local demo only: a real app gets the token for its user's address from its own backend.
    const minted = await fetch("/dev/token", { method: "POST", body: JSON.stringify({ to }) });
    const { token, message } = (await minted.json()) as { token?: string; message?: string };
    if (token === undefined) throw new Error(message ?? "No token for this address.");
    const id = await send(client, { to, text, key, token });
    sendStatus.textContent = `Ingest answered 202: note ${id} is queued.`;
    showState(rowFor(id, to), "pending");
    poll();
  } catch (error) {
    sendStatus.className = "error";
    sendStatus.textContent = error instanceof NotepipeError ? `${error.code}: ${error.message}` : String(error);
  } finally {
    button.disabled = false;
  }
});

poll();
