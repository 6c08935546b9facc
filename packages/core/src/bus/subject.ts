import { SyncError } from '../errors/sync-error.js';

/** The longest subject or pattern, in UTF-16 code units. */
export const MAX_SUBJECT_LENGTH = 512;

// Whitespace and control characters are never part of a segment: they hide in logs and wire formats.
const FORBIDDEN = /[\s\p{Cc}]/u;

/**
 * Checks a subject: dot-separated segments, none empty, none with `*`, `>`, whitespace or control
 * characters, at most {@link MAX_SUBJECT_LENGTH} characters. Case-sensitive.
 *
 * @returns the subject's segments.
 * @throws SyncError `invalid_input` saying what is wrong.
 *
 * @example
 * ```ts
 * validateSubject('sync.completed'); // ['sync', 'completed']
 * validateSubject('sync.*'); // throws: wildcards belong to patterns
 * ```
 */
export function validateSubject(subject: string): string[] {
  const segments = split(subject, 'subject');
  segments.forEach((segment, index) => {
    if (segment.includes('*') || segment.includes('>')) {
      throw invalid('subject', subject, `segment ${index + 1} (${JSON.stringify(segment)}) has a wildcard`);
    }
  });
  return segments;
}

/**
 * Checks a pattern: like a subject, but a whole segment may be `*` (exactly one segment) and the last
 * one may be `>` (one or more trailing segments).
 *
 * @returns the pattern's segments.
 * @throws SyncError `invalid_input` saying what is wrong.
 *
 * @example
 * ```ts
 * validatePattern('conflict.*'); // ['conflict', '*']
 * validatePattern('sync.>.failed'); // throws: `>` must be last
 * ```
 */
export function validatePattern(pattern: string): string[] {
  const segments = split(pattern, 'pattern');
  segments.forEach((segment, index) => {
    if (segment === '*') return;
    if (segment === '>') {
      if (index === segments.length - 1) return;
      throw invalid('pattern', pattern, '`>` must be the last segment');
    }
    if (segment.includes('*') || segment.includes('>')) {
      throw invalid(
        'pattern',
        pattern,
        `segment ${index + 1} (${JSON.stringify(segment)}) mixes a wildcard with other characters`,
      );
    }
  });
  return segments;
}

/**
 * Whether `subject` matches `pattern`: literal segments must be equal, `*` takes any one segment, a
 * final `>` takes one or more.
 *
 * @throws SyncError `invalid_input` for a malformed pattern or subject.
 *
 * @example
 * ```ts
 * subjectMatches('sync.*', 'sync.completed'); // true
 * subjectMatches('sync.>', 'sync'); // false: `>` needs at least one segment
 * ```
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  return compilePattern(pattern).matches(validateSubject(subject));
}

/** A checked pattern, ready to match split subjects. */
export interface CompiledPattern {
  readonly source: string;
  matches(segments: readonly string[]): boolean;
}

/** Checks and prepares a pattern for matching many subjects. */
export function compilePattern(pattern: string): CompiledPattern {
  const segments = validatePattern(pattern);
  const tail = segments.at(-1) === '>';
  const fixed = tail ? segments.length - 1 : segments.length;
  return {
    source: pattern,
    matches(subject) {
      if (tail ? subject.length <= fixed : subject.length !== fixed) return false;
      for (let i = 0; i < fixed; i++) {
        const segment = segments[i];
        if (segment !== '*' && segment !== subject[i]) return false;
      }
      return true;
    },
  };
}

function split(value: unknown, field: 'subject' | 'pattern'): string[] {
  if (typeof value !== 'string') {
    throw new SyncError('invalid_input', `A ${field} must be a string, got ${typeof value}`, { details: { field } });
  }
  if (value.length === 0) throw invalid(field, value, 'it is empty');
  if (value.length > MAX_SUBJECT_LENGTH) {
    throw invalid(field, value, `it is longer than ${MAX_SUBJECT_LENGTH} characters`);
  }
  const segments = value.split('.');
  segments.forEach((segment, index) => {
    if (segment === '') throw invalid(field, value, `segment ${index + 1} is empty`);
    if (FORBIDDEN.test(segment)) {
      throw invalid(field, value, `segment ${index + 1} has whitespace or a control character`);
    }
  });
  return segments;
}

function invalid(field: 'subject' | 'pattern', value: string, why: string): SyncError {
  const shown = value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}…` : JSON.stringify(value);
  return new SyncError('invalid_input', `Invalid ${field} ${shown}: ${why}`, { details: { field, [field]: value } });
}
