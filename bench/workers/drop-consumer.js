/**
 * Consumes the `notes` queue during the CPU runs and drops every message, so the simulated queue does
 * not grow for the whole run. Delivery is measured separately, through the real stack.
 */
export default {
  /**
   * @param {{ ackAll(): void }} batch
   */
  async queue(batch) {
    batch.ackAll();
  },
};
