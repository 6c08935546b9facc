// @eventsync/testkit: contract suites, an in-memory network with fault injection, a fake clock, fixtures.

export { describeEventStoreContract, itWhenDurable } from './contracts/event-store-contract.js';
export type { StoreContractOptions } from './contracts/event-store-contract.js';
export { describeLocalEventStoreContract } from './contracts/local-event-store-contract.js';
export { describeServerEventLogContract } from './contracts/server-event-log-contract.js';
export type { ServerEventLogContractOptions } from './contracts/server-event-log-contract.js';
export { describeTransportContract } from './contracts/transport-contract.js';
export type { TransportContractOptions, TransportHarness } from './contracts/transport-contract.js';

export { TestEvents } from './fixtures/test-events.js';
export type { TestEventsOptions } from './fixtures/test-events.js';
export { catchSyncError, expectSyncError } from './fixtures/expect-sync-error.js';
export { makeConflict } from './fixtures/conflict.js';
export { propertyOptions, DEFAULT_PROPERTY_OPTIONS } from './fixtures/property-options.js';
export type { PropertyOptions } from './fixtures/property-options.js';

export { FakeClock, DEFAULT_FAKE_CLOCK_OPTIONS } from './clock/fake-clock.js';
export type { FakeClockOptions, FakeTimerHandle } from './clock/fake-clock.js';
export type { Timers } from './clock/timers.js';
export { MemoryNetwork, DEFAULT_FAULT_OPTIONS } from './network/memory-network.js';
export type {
  DelayRange,
  FaultOptions,
  MemoryNetworkOptions,
  NetworkCounters,
  NetworkStats,
  ResolvedFaults,
} from './network/memory-network.js';
