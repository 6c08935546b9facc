import { SyncError } from '@eventsync/core';

/** Bounds of {@link readJsonBody}. */
export interface JsonBodyOptions {
  /** The most bytes of the body, as sent and after decompression. */
  readonly maxBodyBytes: number;
}

/**
 * Reads a request's JSON body the way the protocol wants it: `Content-Type: application/json` (UTF-8),
 * optionally `Content-Encoding: gzip`, at most `maxBodyBytes` as read (after decompression). The
 * inflated size is counted as the body streams through the decompressor, which is cancelled the
 * moment it passes the bound, so a gzip bomb costs a few megabytes at most. (Hono's `bodyLimit`
 * bounds the bytes on the wire before this runs.)
 *
 * @throws SyncError with `details.problem` `unsupported_media_type` (415) for another content type,
 *   charset or encoding; `limit_exceeded` naming `maxBodyBytes` (413); `invalid_input` (400) for
 *   broken gzip, UTF-8 or JSON.
 */
export async function readJsonBody(request: Request, options: JsonBodyOptions): Promise<unknown> {
  checkContentType(request.headers.get('Content-Type'));
  const gzip = contentEncoding(request.headers.get('Content-Encoding'));
  const { maxBodyBytes } = options;
  let body: ReadableStream<Uint8Array> | null = request.body;
  if (body === null) throw invalidBody('The request has no body');
  if (gzip) body = body.pipeThrough(new DecompressionStream('gzip') as ReadableWritablePair<Uint8Array, Uint8Array>);
  const bytes = await readAtMost(body, maxBodyBytes, gzip);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw invalidBody('The body is not valid UTF-8', error);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw invalidBody(`The body is not valid JSON: ${(error as Error).message}`, error);
  }
}

function checkContentType(header: string | null): void {
  const [essence = '', ...parameters] = (header ?? '').split(';').map((part) => part.trim().toLowerCase());
  const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice('charset='.length);
  const utf8 = charset === undefined || ['utf-8', 'utf8', '"utf-8"'].includes(charset);
  if (essence === 'application/json' && utf8) return;
  throw new SyncError(
    'invalid_input',
    header === null
      ? 'The request has no Content-Type; send application/json'
      : `Content-Type ${JSON.stringify(header)} is not supported; send application/json (UTF-8)`,
    { details: { problem: 'unsupported_media_type', status: 415, field: 'Content-Type' } },
  );
}

/** Whether the body is gzip; `identity` or no header is plain. */
function contentEncoding(header: string | null): boolean {
  const encoding = (header ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return false;
  if (encoding === 'gzip' || encoding === 'x-gzip') return true;
  throw new SyncError(
    'invalid_input',
    `Content-Encoding ${JSON.stringify(header)} is not supported; send gzip or no encoding`,
    { details: { problem: 'unsupported_media_type', status: 415, field: 'Content-Encoding' } },
  );
}

async function readAtMost(body: ReadableStream<Uint8Array>, max: number, inflated: boolean): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (inflated) throw invalidBody('The body is not valid gzip', error);
        throw error;
      }
      if (chunk.done) break;
      total += chunk.value.byteLength;
      if (total > max) throw tooLarge(max, undefined, inflated);
      chunks.push(chunk.value);
    }
  } catch (error) {
    reader.cancel().catch(() => undefined);
    throw error;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The `413` of a body past `maxBodyBytes`. */
export function tooLarge(max: number, actual?: number, inflated = false): SyncError {
  const what = inflated ? 'The request body inflates to' : 'The request body is';
  return new SyncError(
    'limit_exceeded',
    actual === undefined
      ? `${what} more than ${max} bytes, the limit maxBodyBytes`
      : `${what} ${actual} bytes, more than maxBodyBytes (${max})`,
    { details: { limit: 'maxBodyBytes', max, ...(actual === undefined ? {} : { actual }) } },
  );
}

function invalidBody(message: string, cause?: unknown): SyncError {
  return new SyncError('invalid_input', message, {
    cause,
    details: { problem: 'invalid_request', status: 400, field: 'body' },
  });
}
