/**
 * The demo page's script, bundled with @notepipe/client by server.ts. Everything notepipe-specific
 * is an SDK call: requestCode / confirmCode, IndexedDbKeyStore / keepNewKey / findKey, createOutbox
 * (enqueue, start), decrypt. The rest is DOM, and page-store.ts for the tokens and the note list. The endpoint is "" (this page's origin): the demo server passes
 * /v1/* on to ingest and /inbox to the local mail provider.
 */

import {
  confirmCode,
  createOutbox,
  currentKey,
  type DrainResult,
  decrypt,
  findKey,
  IndexedDbKeyStore,
  IndexedDbOutboxStore,
  type KeptKey,
  keepNewKey,
  NotepipeError,
  type OutboxNote,
  type OutboxState,
  requestCode,
} from "@notepipe/client";
import { keepToken, readTokens, readWrittenNotes, rememberNote, type WrittenNote } from "./page-store.ts";

const POLL_INTERVAL_MS = 1000;
/** From `sent` on, the local provider holds the email. */
const HAS_EMAIL: ReadonlySet<OutboxState> = new Set(["sent", "delivered", "bounced", "complained"]);

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- enrollment: a code emailed to the address, read from the local inbox, traded for its token ---

/**
 * One of this browser's tokens, which the outbox's status polls carry (its `pollAs`): ingest then
 * counts them against that token's allowance, not against everyone behind this network's address.
 */
let pollAs: { to: string; token: string } | undefined;

async function showEnrolled(): Promise<void> {
  const tokens = await readTokens();
  element("enrolled").textContent = Object.keys(tokens).join(", ") || "none yet";
  const [first] = Object.entries(tokens);
  pollAs = first && { to: first[0], token: first[1] };
}

interface InboxEmail {
  text: string | null;
  subject: string;
  noteId: string | null;
}

/** The code emails the local inbox holds for `to`: what the user would find in their mail. */
async function codeEmails(to: string): Promise<InboxEmail[]> {
  const res = await fetch(`/inbox?to=${encodeURIComponent(to)}`);
  const { emails } = (await res.json()) as { emails: InboxEmail[] };
  return emails.filter((email) => email.noteId === null);
}

const enrolLog = element<HTMLOListElement>("enrol-log");

function logStep(text: string, className = ""): void {
  enrolLog.append(make("li", className, text));
}

const enrolling = new Map<string, Promise<string>>();

/**
 * The whole enrollment, as a user does it with two screens: ask for a code, read it in the inbox,
 * type it in. One at a time per address, whether the button or the outbox's getToken asked.
 */
function enrol(address: string): Promise<string> {
  const to = address.trim().toLowerCase();
  let running = enrolling.get(to);
  if (running === undefined) {
    running = enrolSteps(to).finally(() => enrolling.delete(to));
    enrolling.set(to, running);
  }
  return running;
}

async function enrolSteps(to: string): Promise<string> {
  const before = (await codeEmails(to)).length;
  await requestCode({ endpoint: "" }, to);
  logStep(`${to}: POST /v1/tokens/code → 202, a code is on its way.`);
  let email: InboxEmail | undefined;
  for (let attempt = 0; attempt < 60 && email === undefined; attempt++) {
    email = (await codeEmails(to))[before];
    if (email === undefined) await delay(500);
  }
  // Ingest's codes: 8 characters of Crockford's base32 (packages/token/src/enroll-code.ts).
  const code = /\b([0-9A-HJKMNP-TV-Z]{8})\b/.exec(email?.text ?? "")?.[1];
  if (code === undefined) throw new Error(`No code email reached ${to} in the local inbox.`);
  logStep(`The email in the local inbox: “${email?.subject}”: ${email?.text}`, "code-email");
  const token = await confirmCode({ endpoint: "" }, to, code);
  await keepToken(to, token);
  logStep(`${to}: POST /v1/tokens with ${code} → its client token, kept in this browser.`, "enrolled");
  await showEnrolled();
  return token;
}

/**
 * The outbox asks for a token when a note is sent, not when it is written, so that a note can be
 * written with no network. An address not enrolled yet is enrolled then, as above; so is one whose
 * token ingest refused (`refused`: its key was retired, say).
 */
async function getToken(to: string, { refused }: { refused?: string | undefined }): Promise<string> {
  const token = (await readTokens())[to.toLowerCase()];
  return token !== undefined && token !== refused ? token : enrol(to);
}

await showEnrolled();
const enrolForm = element<HTMLFormElement>("enrol");
enrolForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await enrol(element<HTMLInputElement>("enrol-to").value);
  } catch (error) {
    logStep(error instanceof NotepipeError ? `${error.code}: ${error.message}` : String(error), "error");
  }
});

/** The key lives in IndexedDB as a non-extractable CryptoKey, written with strict durability. */
const keys = new IndexedDbKeyStore("notepipe-demo-keys");

const outbox = createOutbox({
  endpoint: "",
  store: new IndexedDbOutboxStore("notepipe-demo"),
  keys,
  getToken,
  pollIntervalMs: POLL_INTERVAL_MS,
  // Read at each poll: the first enrolment happens after the outbox is made.
  get pollAs() {
    return pollAs;
  },
});

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

// The page's shell (this page and its script) from a service worker, so that it opens offline too.
// Without one (an older browser, a full quota) the page still works while it is open.
navigator.serviceWorker?.register("/sw.js").catch(() => undefined);

// --- the key ----------------------------------------------------------------------------------

/** The key's id, drawn with it (a non-extractable key cannot be hashed): what each note records. */
function showKey(kept: KeptKey): void {
  const hex = kept.id.replaceAll("-", "").slice(0, 16);
  element("key-fingerprint").textContent = hex.replace(/(.{4})(?!$)/g, "$1 ");
}

// Kept and read back before the first note can be written under it.
showKey((await currentKey(keys)) ?? (await keepNewKey(keys)));
element<HTMLButtonElement>("new-key").addEventListener("click", async () => {
  showKey(await keepNewKey(keys));
});

// --- the notes --------------------------------------------------------------------------------

/** What the page knows of each note that the outbox does not keep: its recipient, how it was written. */
const written = new Map(Object.entries(await readWrittenNotes()));

async function remember(id: string, note: WrittenNote): Promise<void> {
  written.set(id, note);
  await rememberNote(id, note);
}

interface Row {
  item: HTMLLIElement;
  states: HTMLOListElement;
  mail: HTMLDivElement;
  seen: OutboxState[];
  email: "none" | "loading" | "shown";
  /** The id of the key the note is encrypted under, from the outbox. */
  keyId?: string;
}

const rows = new Map<string, Row>();
const list = element<HTMLOListElement>("notes");

function rowFor(id: string): Row {
  let row = rows.get(id);
  if (row !== undefined) return row;
  const note = written.get(id);
  const item = make("li", "note");
  item.dataset.noteId = id;
  const head = make("div", "note-head");
  head.append(make("code", "note-id", id), make("span", "note-to", note ? `to ${note.to}` : "(another browser's)"));
  if (note?.offline) head.append(make("span", "note-offline", "written offline"));
  const states = make("ol", "states");
  const mail = make("div", "mail");
  mail.hidden = true;
  item.append(head, states, mail);
  list.prepend(item);
  row = { item, states, mail, seen: [], email: "none" };
  rows.set(id, row);
  return row;
}

function showState(row: Row, note: Pick<OutboxNote, "state" | "code" | "error" | "keyId">): void {
  row.keyId ??= note.keyId;
  if (row.seen.at(-1) === note.state) return;
  row.seen.push(note.state);
  row.item.dataset.state = note.state;
  for (const old of row.states.querySelectorAll(".current")) old.classList.remove("current");
  const step = make("li", `state current state-${note.state}`, note.state);
  step.title = new Date().toLocaleTimeString();
  if (note.error !== undefined) step.title += ` — ${note.code ?? ""} ${note.error}`;
  row.states.append(step);
  if (HAS_EMAIL.has(note.state) && row.email === "none") void showEmail(row);
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
        const kept = row.keyId === undefined ? undefined : await findKey(keys, row.keyId);
        if (kept === undefined) throw new Error("This browser holds no key for this note.");
        plaintext.textContent = await decrypt(email.text, kept.key);
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

function render(notes: readonly OutboxNote[]): void {
  for (const note of notes) showState(rowFor(note.id), note);
}

// --- the outbox: drained on load, on `online`, after each note and every second while one is out ---

const outboxStatus = element("outbox-status");

function showOutbox({ drained, notes, error }: DrainResult): void {
  render(notes);
  const queued = notes.filter((note) => note.state === "queued").length;
  const waiting = queued === 0 ? "No note waits" : queued === 1 ? "1 note waits" : `${queued} notes wait`;
  if (error !== undefined) {
    outboxStatus.className = "offline";
    outboxStatus.textContent = `${navigator.onLine ? "" : "Offline. "}${waiting} in the outbox: ${error.message}`;
  } else {
    outboxStatus.className = "";
    outboxStatus.textContent = drained
      ? `${waiting} in the outbox.`
      : `${waiting} in the outbox, which another tab is draining.`;
  }
}

const form = element<HTMLFormElement>("compose");
const sendStatus = element("send-status");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const to = element<HTMLInputElement>("to").value.trim();
  const text = element<HTMLTextAreaElement>("text").value;
  sendStatus.className = "";
  try {
    const id = await outbox.enqueue({ to, text });
    await remember(id, { to, offline: !navigator.onLine });
    sendStatus.textContent = `Note ${id} is in the outbox: it leaves as soon as the network allows.`;
    showState(rowFor(id), { state: "queued" });
  } catch (error) {
    sendStatus.className = "error";
    sendStatus.textContent = error instanceof NotepipeError ? `${error.code}: ${error.message}` : String(error);
  }
});

function showStorageError(error: unknown): void {
  outboxStatus.className = "error";
  outboxStatus.textContent = error instanceof NotepipeError ? error.message : String(error);
}

// What the outbox holds is on the page at once, before the first drain has asked the network.
try {
  render(await outbox.list());
} catch (error) {
  showStorageError(error);
}
outbox.start({
  onDrain: showOutbox,
  onError: showStorageError,
  onPersistRefused: () => {
    element("storage-status").textContent =
      "This browser did not grant persistent storage: under storage pressure it may evict the outbox.";
  },
});
document.body.dataset.ready = "true";
