/** A short description of a value for error messages: `a VectorClock`, `null`, `42`. */
export function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object')
    return typeof value === 'string' ? JSON.stringify(value) : String(value);
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name ? `a ${name}` : 'an object';
}
