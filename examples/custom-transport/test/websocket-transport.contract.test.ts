import { describeTransportContract } from '@eventsync/testkit';
import { startServer, transportFor } from './support.js';

// WebSocketTransport against attachWebSocketSync on a real http.Server at 127.0.0.1: real sockets.

describeTransportContract('WebSocketTransport (ws on 127.0.0.1)', {
  setup: async () => {
    const server = await startServer();
    return {
      transport: () => transportFor(server.url),
      close: () => server.close(),
    };
  },
});
