import { describeServerEventLogContract } from '@eventsync/testkit';
import { MemoryServerEventLog } from './memory-server-event-log.js';

describeServerEventLogContract('MemoryServerEventLog', { create: () => new MemoryServerEventLog() });
