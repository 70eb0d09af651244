/**
 * The shape of a JWS in compact serialization (RFC 7515 §7.1): three non-empty parts separated by
 * two dots. Found with three indexOf calls, no regex over the token: the verified-token cache asks it
 * before hashing a value, the verifier before decoding one, so junk of another shape costs neither.
 */

/** Where a compact JWS's two dots are, or undefined when `value` has another shape. */
export interface CompactJwsDots {
  readonly first: number
  readonly last: number
}

export function compactJwsDots(value: string): CompactJwsDots | undefined {
  const first = value.indexOf('.')
  const last = value.lastIndexOf('.')
  if (first < 1 || last < first + 2 || last === value.length - 1 || value.indexOf('.', first + 1) !== last) return undefined
  return { first, last }
}
