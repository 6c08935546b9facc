/** The longest delay `setTimeout` honours: past it, Node fires after 1 ms and browsers at once. */
export const MAX_TIMER_MS = 2_147_483_647;
