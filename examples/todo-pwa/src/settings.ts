/**
 * What the app remembers outside the event log, in `localStorage`: the server's token and the conflict
 * strategy. A link of the form `/#token=…` (as `pnpm start` prints it) stores the token and is then
 * removed from the address bar, so it does not linger in the history.
 */
const TOKEN_KEY = 'eventsync-todo:token';
const STRATEGY_KEY = 'eventsync-todo:strategy';

/** How concurrent edits of one todo are settled. */
export type Strategy = 'last-write-wins' | 'manual';

export const STRATEGIES: Readonly<Record<Strategy, string>> = {
  'last-write-wins': 'the last edit wins',
  manual: 'ask me (conflict inbox)',
};

/** Takes a token from the address's fragment, if there is one, and keeps it. */
export function adoptTokenFromLocation(location: Location, history: History): void {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get('token');
  if (token === null) return;
  if (token.trim() !== '') saveToken(token.trim());
  fragment.delete('token');
  const rest = fragment.toString();
  history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
}

export function loadToken(): string | undefined {
  return localStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function saveToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token);
}

export function loadStrategy(): Strategy {
  const saved = localStorage.getItem(STRATEGY_KEY);
  return saved === 'manual' ? 'manual' : 'last-write-wins';
}

export function saveStrategy(strategy: Strategy): void {
  localStorage.setItem(STRATEGY_KEY, strategy);
}
