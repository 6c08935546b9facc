import { isSyncError } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { decodeProblem, errorFromProblem, problem, PROBLEM_CODES, type ProblemCode } from '../index.js';
import { responseError } from './http-error.js';

/** The answer an HTTP server sends for a problem document. */
function answerOf(document: ReturnType<typeof problem>): { status: number; statusText: string; headers: Headers } {
  return {
    status: document.status,
    statusText: '',
    headers: new Headers({ 'Content-Type': 'application/problem+json' }),
  };
}

describe('errorFromProblem', () => {
  it('maps every problem code as HttpTransport maps the same answer over HTTP', () => {
    for (const code of Object.keys(PROBLEM_CODES) as ProblemCode[]) {
      const document = problem(code, undefined, `a ${code} problem`);
      const error = errorFromProblem('Push', document);
      const overHttp = responseError('Push', answerOf(document), JSON.stringify(document));
      expect(isSyncError(error)).toBe(true);
      expect(error.code).toBe(overHttp.code);
      expect(error.retryable).toBe(overHttp.retryable);
      expect(error.details).toEqual(overHttp.details);
      expect(error.message).toBe(`Push failed with ${code}: a ${code} problem`);
    }
    expect(errorFromProblem('Pull', problem('internal')).code).toBe('unavailable');
    expect(errorFromProblem('Pull', problem('method_not_allowed')).code).toBe('protocol');
  });

  it('makes a push chain the server could not keep in order retryable, and any other 409 a protocol error', () => {
    for (const code of ['chain_broken', 'chain_unknown'] as const) {
      const error = errorFromProblem('Push', problem(code));
      expect(error).toMatchObject({ code: 'unavailable', retryable: true, details: { status: 409, problem: code } });
    }
    expect(errorFromProblem('Push', problem('some_conflict', 409)).code).toBe('protocol');
  });

  it('names the limit, the bounds and the event of a limit_exceeded problem, and the wait asked', () => {
    const document = problem('limit_exceeded', 413, 'Event 01J… is too large', {
      limit: 'maxEventBytes',
      max: 65_536,
      actual: 70_000,
      eventId: '01JDQ7Z8K3M4N5P6Q7R8S9T0V1',
    });
    const error = errorFromProblem('Push', document, { retryAfterMs: 2000 });
    expect(error.code).toBe('limit_exceeded');
    expect(error.details).toEqual({
      status: 413,
      problem: 'limit_exceeded',
      limit: 'maxEventBytes',
      max: 65_536,
      actual: 70_000,
      eventId: '01JDQ7Z8K3M4N5P6Q7R8S9T0V1',
      retryAfterMs: 2000,
    });
    // A pull limit above maxPullLimit is a 400 with code limit_exceeded.
    expect(errorFromProblem('Pull', problem('limit_exceeded', 400, 'limit too large')).code).toBe('limit_exceeded');
  });

  it('names the field of a request the server refused, from the problem through decodeProblem', () => {
    const document = decodeProblem(
      JSON.parse(JSON.stringify(problem('invalid_request', 400, 'no chains here', { field: 'chain.seq' }))),
    );
    expect(document.field).toBe('chain.seq');
    expect(errorFromProblem('Push', document).details).toEqual({
      status: 400,
      problem: 'invalid_request',
      field: 'chain.seq',
    });
    expect(responseError('Push', answerOf(document), JSON.stringify(document)).details.field).toBe('chain.seq');
    expect(decodeProblem({ code: 'invalid_request', field: 7 }, 400).field).toBeUndefined();
  });

  it('maps a document without a status by its code, and an unknown code by its status', () => {
    const bare = decodeProblem({ code: 'unauthorized' });
    expect(bare.status).toBe(0);
    expect(errorFromProblem('Reading the latest version', bare)).toMatchObject({
      code: 'unauthorized',
      message: 'Reading the latest version failed with unauthorized',
      details: { status: 401, problem: 'unauthorized' },
    });
    expect(errorFromProblem('Push', decodeProblem({ code: 'quota', status: 507 })).code).toBe('unavailable');
    expect(errorFromProblem('Push', decodeProblem({ code: 'gone', status: 410 })).code).toBe('protocol');
    expect(errorFromProblem('Push', decodeProblem({ code: 'mystery' })).code).toBe('protocol');
  });
});
