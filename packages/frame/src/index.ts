export * from "./frame.ts";
export { isNoteUuid, noteIdToUuid, uuidToNoteId } from "./note-id.ts";
export { isValidRecipient, recipientProblem } from "./recipient.ts";
