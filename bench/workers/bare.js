/**
 * The runtime's floor: reads the body like every Worker that accepts a note must, and answers 202.
 * Whatever a request costs here is workerd's HTTP handling, not a Worker's code.
 */
export default {
  /**
   * @param {Request} request
   * @returns {Promise<Response>}
   */
  async fetch(request) {
    await request.arrayBuffer();
    return new Response(null, { status: 202 });
  },
};
