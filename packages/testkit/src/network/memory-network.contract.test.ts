import { MemoryServerEventLog } from '@eventsync/core';
import { describeTransportContract } from '../contracts/transport-contract.js';
import { MemoryNetwork } from './memory-network.js';

describeTransportContract('MemoryNetwork', {
  setup: () => {
    const log = new MemoryServerEventLog();
    const network = new MemoryNetwork({ log });
    return {
      transport: (clientId) => network.transport(clientId),
      close: async () => {
        await network.close();
        await log.close();
      },
    };
  },
});
