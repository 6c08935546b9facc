/**
 * What the transport needs of a WebSocket: the part of the WHATWG `WebSocket` that browsers and the
 * `ws` package's `WebSocket` share. Text messages only.
 */
export interface WebSocketLike {
  /** `0` connecting, `1` open, `2` closing, `3` closed. */
  readonly readyState: number;
  /** The subprotocol the server selected; `''` when it selected none. */
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** Drops the connection at once, without a closing handshake (`ws` has it; browsers do not). */
  terminate?(): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { readonly code: number; readonly reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/**
 * A WebSocket class: `globalThis.WebSocket` in browsers, workers, Deno, Bun and Node 22+; the `ws`
 * package's `WebSocket` in Node 20.
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;
