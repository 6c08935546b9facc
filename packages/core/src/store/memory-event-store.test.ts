import { describeLocalEventStoreContract } from '@eventsync/testkit';
import { MemoryEventStore } from './memory-event-store.js';

describeLocalEventStoreContract('MemoryEventStore', { create: () => new MemoryEventStore() });
