import { describe, expect, it } from 'vitest';
import { isSyncError } from '../errors/sync-error.js';
import { MAX_SUBJECT_LENGTH, subjectMatches, validatePattern, validateSubject } from './subject.js';

describe('subject patterns', () => {
  it.each([
    // pattern, subject, matches
    ['sync.completed', 'sync.completed', true],
    ['sync.completed', 'sync.failed', false],
    ['sync.completed', 'sync.completed.late', false],
    ['sync.completed', 'sync', false],
    ['Sync.completed', 'sync.completed', false],
    ['sync.*', 'sync.completed', true],
    ['sync.*', 'sync', false],
    ['sync.*', 'sync.completed.late', false],
    ['*', 'sync', true],
    ['*', 'sync.completed', false],
    ['*.*', 'sync.completed', true],
    ['*.completed', 'sync.completed', true],
    ['*.completed', 'sync.failed', false],
    ['orders.*.created', 'orders.eu.created', true],
    ['orders.*.created', 'orders.eu.paid', false],
    ['orders.*.created', 'orders.eu.x.created', false],
    ['sync.>', 'sync.completed', true],
    ['sync.>', 'sync.completed.late', true],
    ['sync.>', 'sync', false],
    ['sync.>', 'event.appended', false],
    ['>', 'sync', true],
    ['>', 'sync.completed.late', true],
    ['*.>', 'sync', false],
    ['*.>', 'sync.completed', true],
    ['orders.*.>', 'orders.eu.created', true],
    ['orders.*.>', 'orders.eu', false],
    ['a-b_c.1', 'a-b_c.1', true],
    ['ünï.*', 'ünï.cödé', true],
  ])('%s against %s: %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });

  it.each([
    ['', 'it is empty'],
    ['.sync', 'segment 1 is empty'],
    ['sync.', 'segment 2 is empty'],
    ['sync..completed', 'segment 2 is empty'],
    ['sync.>.failed', '`>` must be the last segment'],
    ['>.>', '`>` must be the last segment'],
    ['sync.comp*', 'mixes a wildcard'],
    ['sync.>x', 'mixes a wildcard'],
    ['sync.**', 'mixes a wildcard'],
    ['sync. completed', 'whitespace or a control character'],
    ['sync.\tcompleted', 'whitespace or a control character'],
    ['sync.com\u0000pleted', 'whitespace or a control character'],
    ['x'.repeat(MAX_SUBJECT_LENGTH + 1), `longer than ${MAX_SUBJECT_LENGTH}`],
  ])('rejects the pattern %j: %s', (pattern, why) => {
    expectInvalid(() => validatePattern(pattern), 'pattern', why);
  });

  it.each([
    ['', 'it is empty'],
    ['sync.', 'segment 2 is empty'],
    ['..', 'segment 1 is empty'],
    ['sync.*', 'has a wildcard'],
    ['sync.>', 'has a wildcard'],
    ['sync.a*b', 'has a wildcard'],
    ['a b', 'whitespace or a control character'],
    ['line\nbreak', 'whitespace or a control character'],
  ])('rejects the subject %j: %s', (subject, why) => {
    expectInvalid(() => validateSubject(subject), 'subject', why);
  });

  it('rejects what is not a string', () => {
    expectInvalid(() => validateSubject(42 as unknown as string), 'subject', 'must be a string');
    expectInvalid(() => validatePattern(undefined as unknown as string), 'pattern', 'must be a string');
  });

  it('accepts a subject or pattern of the longest length', () => {
    expect(validateSubject('x'.repeat(MAX_SUBJECT_LENGTH))).toHaveLength(1);
    expect(validatePattern(`${'x'.repeat(MAX_SUBJECT_LENGTH - 2)}.>`)).toHaveLength(2);
  });
});

function expectInvalid(run: () => unknown, field: string, why: string): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(isSyncError(caught, 'invalid_input')).toBe(true);
  expect((caught as Error).message).toContain(why);
  expect((caught as { details: { field: string } }).details.field).toBe(field);
}
