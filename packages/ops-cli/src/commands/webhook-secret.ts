/**
 * `pnpm ops webhook-secret`: a new Svix-style signing secret, `whsec_` + base64 of 24 random bytes
 * (the shape Resend's dashboard shows), for `RESEND_WEBHOOK_SECRET` and the local provider.
 */

import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import type { CommandContext } from "../program.ts";

const SECRET_BYTES = 24;

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(SECRET_BYTES).toString("base64")}`;
}

export function addWebhookSecretCommand(program: Command, context: CommandContext): void {
  program
    .command("webhook-secret")
    .description("a new whsec_ secret for signing and verifying Resend-style (Svix) webhooks")
    .action(() => context.print(newWebhookSecret()));
}
