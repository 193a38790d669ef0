/**
 * The floor of a queue invocation: a consumer that acks every message, one by one as deliver does.
 * What an invocation costs here is the runtime's (the batch handed over, its bodies deserialised,
 * the acks), and the driver's building of the batch in the same workerd: deliver over this is
 * deliver's own code.
 */

export default {
  async queue(batch) {
    for (const message of batch.messages) message.ack();
  },
} satisfies ExportedHandler<Env>;
