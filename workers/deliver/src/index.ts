export default {
  async queue(batch) {
    batch.ackAll();
  },
} satisfies ExportedHandler<Env>;
