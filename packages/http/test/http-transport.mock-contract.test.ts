import { describeTransportContract } from '@eventsync/testkit';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll } from 'vitest';
import { HttpTransport } from '../src/index.js';
import { BASE_URL, MockSyncServer } from './mock-sync-server.js';

// The contract against the msw mock server (the codec on both sides); the real server runs it in
// http-transport.contract.test.ts.
const network = setupServer();
beforeAll(() => network.listen({ onUnhandledRequest: 'error' }));
afterAll(() => network.close());

describeTransportContract('HttpTransport (msw mock server)', {
  setup: () => {
    const server = new MockSyncServer();
    network.resetHandlers(...server.handlers);
    return {
      transport: () =>
        new HttpTransport({ baseUrl: BASE_URL, timeoutMs: 2000, stream: { initialDelayMs: 5, maxDelayMs: 50 } }),
      close: () => server.log.close(),
    };
  },
});
