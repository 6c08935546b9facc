import { describe, expect, it } from 'vitest';
import { DEFAULT_SERVE_ARGS, parseServeArgs, UsageError } from './serve-args.js';

describe('parseServeArgs', () => {
  it('fills in the defaults', () => {
    expect(parseServeArgs([])).toEqual({
      db: DEFAULT_SERVE_ARGS.db,
      port: 8787,
      host: '127.0.0.1',
      tokens: new Map(),
      tenant: 'default',
      cors: [],
      log: true,
    });
  });

  it('reads every option', () => {
    const args = parseServeArgs([
      '--db',
      'x.db',
      '--port',
      '0',
      '--host',
      '::1',
      '--token',
      'plain',
      '--token',
      'acme:s3cret',
      '--tenant',
      'main',
      '--cors',
      'https://app.example',
      '--keep-alive-timeout',
      '65000',
      '--quiet',
    ]);
    expect(args).toEqual({
      db: 'x.db',
      port: 0,
      host: '::1',
      tokens: new Map([
        ['plain', 'main'],
        ['s3cret', 'acme'],
      ]),
      tenant: 'main',
      cors: ['https://app.example'],
      keepAliveTimeoutMs: 65_000,
      log: false,
    });
  });

  it('reads tokens from EVENTSYNC_TOKENS too', () => {
    const args = parseServeArgs(['--token', 'a1'], { EVENTSYNC_TOKENS: 'acme:b2, c3\nglobex:d4' });
    expect(args === 'help' ? undefined : [...args.tokens]).toEqual([
      ['a1', 'default'],
      ['b2', 'acme'],
      ['c3', 'default'],
      ['d4', 'globex'],
    ]);
  });

  it('answers help', () => {
    expect(parseServeArgs(['--help'])).toBe('help');
    expect(parseServeArgs(['-h'])).toBe('help');
  });

  it.each([
    [['--port', 'x'], /--port/],
    [['--port', '65536'], /--port/],
    [['--port', '-1'], /--port/],
    [['--port'], /--port/],
    [['--bogus'], /bogus/],
    [['extra'], /extra/],
    [['--token', 'has space'], /A token is made of/],
    [['--token', ':abc'], /tenant/],
    [['--token', 'a:t1', '--token', 'b:t1'], /two tenants/],
    [['--tenant', ''], /--tenant/],
    [['--db', ''], /--db/],
    [['--keep-alive-timeout', '1.5'], /--keep-alive-timeout must be a whole number of milliseconds/],
    [['--keep-alive-timeout', '-1'], /--keep-alive-timeout/],
    [['--keep-alive-timeout', '0'], /--keep-alive-timeout must be a whole number of milliseconds from 1/],
    [['--keep-alive-timeout', '2147483648'], /--keep-alive-timeout/],
    [['--keep-alive-timeout', ''], /--keep-alive-timeout/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseServeArgs(argv)).toThrow(UsageError);
    expect(() => parseServeArgs(argv)).toThrow(message);
  });

  it('never repeats a whole token in its messages', () => {
    expect(() => parseServeArgs(['--token', 'supersecret!'])).toThrow(/"supe…"/);
  });
});
