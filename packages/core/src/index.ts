// @eventsync/core: the contracts, versions and clocks, events, errors and in-memory stores.

export { SyncError, isSyncError, SYNC_ERROR_CODES } from './errors/sync-error.js';
export type { SyncErrorCode, SyncErrorDetails, SyncErrorOptions } from './errors/sync-error.js';
export type { SignalOptions } from './internal/abort.js';

export type { Version, VersionCodec } from './version/version.js';
export { CursorVersion, cursorVersionCodec } from './version/cursor-version.js';
export { VectorClock, DEFAULT_VECTOR_CLOCK_OPTIONS } from './version/vector-clock.js';
export type { CausalRelation, VectorClockOptions } from './version/vector-clock.js';
export { HlcTimestamp, MAX_HLC_COUNTER, MAX_HLC_WALL_TIME } from './version/hlc-timestamp.js';
export { HybridLogicalClock } from './version/hybrid-logical-clock.js';
export type { HybridLogicalClockOptions } from './version/hybrid-logical-clock.js';

export type { Event, EventMetadata, EventPage, JsonValue, VersionedEvent } from './event/event.js';
export { EventFactory } from './event/event-factory.js';
export type { EventFactoryOptions, EventInput } from './event/event-factory.js';
export {
  validateEvent,
  checkedEventJson,
  DEFAULT_EVENT_LIMITS,
  ULID_PATTERN,
  utf8Length,
} from './event/validate-event.js';
export type { EventLimits } from './event/validate-event.js';
export { canonicalJson, sameEventContent } from './event/canonical-json.js';

export type { Filter } from './store/filter.js';
export { matchesFilter } from './store/filter.js';
export type { EventStore, LoadOptions } from './store/event-store.js';
export type {
  Acknowledgement,
  ApplyPulledResult,
  ConflictQueryOptions,
  ConflictRecord,
  FoundEvent,
  LocalEventStore,
  OutboxChange,
  OutboxEntry,
  PendingOptions,
  PulledPage,
  Rejection,
  RejectionRecord,
} from './store/local-event-store.js';
export { MemoryEventStore } from './store/memory-event-store.js';
export type { MemoryEventStoreOptions } from './store/memory-event-store.js';

export type {
  AppendNotice,
  AppendOptions,
  AppendResult,
  JsonEventPage,
  JsonEventRow,
  ReadOptions,
  RejectionCode,
  ServerEventLog,
} from './server/server-event-log.js';
export { MemoryServerEventLog } from './server/memory-server-event-log.js';
export type { MemoryServerEventLogOptions } from './server/memory-server-event-log.js';
export { decideAppend, appendedJson, checkTenant, DEFAULT_READ_LIMIT } from './server/decide-append.js';
export type { AppendDecision, AppendLookup } from './server/decide-append.js';
export { AppendListeners } from './server/append-listeners.js';
export { CheckedEvents } from './server/checked-events.js';

export type {
  LiveBatch,
  PullOptions,
  SubscribeOptions,
  SubscriptionState,
  Transport,
  TransportSubscription,
} from './transport/transport.js';
export { CallScope, CallScopes, DEFAULT_CALL_SCOPE_OPTIONS } from './transport/call-scope.js';
export type { CallScopeOptions } from './transport/call-scope.js';
export { SubscriptionLifecycle } from './transport/subscription-lifecycle.js';
export { partialPushError } from './transport/partial-push.js';

export type {
  Conflict,
  ConflictDecision,
  ConflictResolver,
  ResolveContext,
  ResolvedConflict,
} from './conflict/conflict.js';

export { SyncManager, DEFAULT_SYNC_MANAGER_OPTIONS } from './sync/sync-manager.js';
export type { ConflictChoice, SyncManagerOptions } from './sync/sync-manager.js';
export type { EventState, SyncEventMap, SyncEventName, SyncResult, SyncStatus } from './sync/sync-types.js';
export { DEFAULT_AUTO_SYNC_OPTIONS } from './sync/auto-sync.js';
export type { AutoSyncOptions, SyncTimers } from './sync/auto-sync.js';
export { DEFAULT_RETRY_OPTIONS, backoffDelay } from './sync/backoff.js';
export type { RetryOptions } from './sync/backoff.js';
export { alwaysOnline, defaultConnectivity, manualConnectivity } from './sync/connectivity.js';
export type { Connectivity } from './sync/connectivity.js';

export { Projection } from './projection/projection.js';
export type { ProjectionDefinition, ProjectionOptions, Reducer } from './projection/projection.js';

export { remoteWins } from './conflict/remote-wins.js';
export { localWins } from './conflict/local-wins.js';
export { lastWriteWins } from './conflict/last-write-wins.js';
export { firstWriteWins } from './conflict/first-write-wins.js';
export { fieldMerge, DEFAULT_FIELD_MERGE_OPTIONS } from './conflict/field-merge.js';
export type { FieldMergeOptions } from './conflict/field-merge.js';
export { keepBoth, DEFAULT_KEEP_BOTH_OPTIONS } from './conflict/keep-both.js';
export type { KeepBothOptions } from './conflict/keep-both.js';
export { manual, DEFAULT_MANUAL_OPTIONS } from './conflict/manual.js';
export type { ManualOptions } from './conflict/manual.js';
export { resolveParked } from './conflict/resolve-parked.js';
export type { ParkedChoice } from './conflict/resolve-parked.js';
export { ruleBased } from './conflict/rule-based.js';
export type { ConflictRule, RuleBasedOptions } from './conflict/rule-based.js';
export { match } from './conflict/conflict-matcher.js';
export type { ConflictMatcher } from './conflict/conflict-matcher.js';

export { EventBus, DEFAULT_EVENT_BUS_OPTIONS } from './bus/event-bus.js';
export type {
  BusErrorContext,
  BusObserver,
  EventBusOptions,
  EventBusStats,
  PublishOptions,
  Subscription,
  SubscriptionOptions,
} from './bus/event-bus.js';
export type { Envelope } from './bus/envelope.js';
export { DEFAULT_BUFFER_OPTIONS, DROP_REASONS } from './bus/backpressure.js';
export type { Backpressure, BufferOptions, DropReason, SubscriptionStats } from './bus/backpressure.js';
export { MAX_SUBJECT_LENGTH, subjectMatches, validatePattern, validateSubject } from './bus/subject.js';
export { publishSyncLifecycle, SYNC_LIFECYCLE_SUBJECTS } from './bus/sync-lifecycle.js';
export type { SyncLifecycleEnvelope, SyncLifecycleOptions } from './bus/sync-lifecycle.js';

export { KeyedProjection } from './watch/keyed-projection.js';
export type {
  KeyedProjectionOptions,
  KeyedReducer,
  Watcher,
  WatcherStats,
  WatchOptions,
} from './watch/keyed-projection.js';
export { KeyedState } from './watch/keyed-state.js';
export type { KeyedEntry } from './watch/keyed-state.js';
export { CHANGE_TYPES } from './watch/change.js';
export type { Change, ChangeType } from './watch/change.js';
export { jsonEquals } from './watch/json-equals.js';
