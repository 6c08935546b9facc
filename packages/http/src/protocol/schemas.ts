import * as v from 'valibot';

// The shapes of the protocol's JSON bodies. Objects are `v.object`: unknown members of a response are
// dropped (servers may add fields within version 1), and their output is a fresh object holding only
// the known keys, so no `__proto__` member of the input is ever copied. Events stay `unknown` here:
// core's `validateEvent` checks them, with its own messages.

const VERSION_PATTERN = /^(0|[1-9][0-9]*)$/;

/** A version string (decimal, no leading zeros, a safe integer). */
export const versionSchema = v.pipe(
  v.string(),
  v.regex(VERSION_PATTERN, 'Expected a version string like "42"'),
  v.check((value) => Number.isSafeInteger(Number(value)), 'Expected a version within the safe integers'),
);

const idSchema = v.pipe(v.string(), v.minLength(1, 'Expected a non-empty id'));

export const versionedEventSchema = v.object({ event: v.unknown(), version: versionSchema });

export const wireResultSchema = v.variant(
  'status',
  [
    v.object({ id: idSchema, status: v.literal('accepted'), version: versionSchema }),
    v.object({ id: idSchema, status: v.literal('duplicate'), version: versionSchema }),
    v.object({ id: idSchema, status: v.literal('conflict'), latest: versionSchema, reason: v.string() }),
    v.object({
      // `""` for a pushed item without a string id, which can only be rejected (docs/protocol.md).
      id: v.string(),
      status: v.literal('rejected'),
      code: v.pipe(v.string(), v.minLength(1, 'Expected a non-empty rejection code')),
      reason: v.string(),
    }),
  ],
  'Expected a result with status "accepted", "duplicate", "conflict" or "rejected"',
);

export const pushResponseSchema = v.object({ results: v.array(wireResultSchema) });

export const pullResponseSchema = v.object({
  events: v.array(versionedEventSchema),
  next: versionSchema,
  hasMore: v.boolean(),
});

export const versionResponseSchema = v.object({ latest: versionSchema });

export const healthResponseSchema = v.object({
  status: v.literal('ok'),
  protocol: v.pipe(v.number(), v.integer(), v.minValue(1)),
});

export const streamBatchSchema = v.object({ events: v.array(versionedEventSchema), cursor: versionSchema });

const finite = v.pipe(v.number(), v.finite());

export const problemSchema = v.object({
  type: v.optional(v.string()),
  title: v.optional(v.string()),
  status: v.optional(v.pipe(v.number(), v.integer())),
  detail: v.optional(v.string()),
  code: v.pipe(v.string(), v.minLength(1)),
  limit: v.optional(v.string()),
  max: v.optional(finite),
  actual: v.optional(finite),
  eventId: v.optional(v.string()),
  // Kept only as a string (decodeProblem): a document of another server may use the name otherwise.
  field: v.optional(v.unknown()),
});

/** The characters and length of a push chain's id. */
export const PUSH_CHAIN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** A push chain: `{ id, seq }`, nothing else. */
export const pushChainSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(PUSH_CHAIN_ID_PATTERN, 'a chain id is 1–64 characters of A–Z a–z 0–9 _ -')),
  seq: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});

/** `POST /v1/events` (server side): exactly `{ events: [...] }` and an optional `chain`, unknown members refused. */
export const pushRequestSchema = v.strictObject({ events: v.array(v.unknown()), chain: v.optional(pushChainSchema) });

/** `path: message` of the first issue, for error messages. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): { field: string; message: string } {
  const issue = issues[0] as v.BaseIssue<unknown>;
  // Variant and union issues keep the precise cause one level down.
  const deepest = issue.issues?.[0] ?? issue;
  return { field: v.getDotPath(deepest) ?? v.getDotPath(issue) ?? '(root)', message: deepest.message };
}
