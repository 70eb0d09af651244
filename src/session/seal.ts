/**
 * Sealing: a JSON value encrypted and authenticated as a compact JWE (RFC 7516) with `alg: dir`,
 * `enc: A256GCM` and the key's `kid` in the protected header. Used for the cookie store's ticket,
 * the redis store's value at rest and the login-flow cookie.
 *
 * `unseal` is on the hot path of every session check and its input comes from the client, so it
 * refuses by shape first (length, five base64url parts, the sizes A256GCM gives the IV and the
 * tag) and never throws: anything malformed, tampered with, sealed under an unknown kid or
 * expired is simply `undefined`.
 */
import { CompactEncrypt, compactDecrypt, type CompactJWEHeaderParameters } from 'jose'
import { systemClock } from '../clock.js'
import type { KeyRing } from './keys.js'

/**
 * The longest sealed value, in characters: `seal` refuses to make a longer one and `unseal` refuses
 * to look at one before any decoding. Room for a session around the largest ID token accepted
 * (MAX_TOKEN_BYTES, 48 KiB) with its claims; a realistic Kubeflow session seals to about 2 KB.
 */
export const MAX_SEALED_LENGTH = 262_144

// protected header . (empty: dir has no encrypted key) . 96-bit IV . ciphertext . 128-bit tag
const SEALED_SHAPE = /^([A-Za-z0-9_-]{1,512})\.\.[A-Za-z0-9_-]{16}\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/**
 * True when the last character of a base64url segment carries no stray bits, so that every byte
 * string has exactly one accepted encoding (decoders ignore those bits: without this check, a
 * few altered tickets would still open).
 */
function isCanonical(segment: string): boolean {
  const rest = segment.length % 4
  if (rest === 0) return true
  if (rest === 1) return false
  const unusedBits = rest === 2 ? 0b1111 : 0b11
  return (BASE64URL.indexOf(segment.charAt(segment.length - 1)) & unusedBits) === 0
}

// Only what seal() makes; never a compressed (`zip`) payload: seal() does not compress.
const DECRYPT_OPTIONS = {
  keyManagementAlgorithms: ['dir'],
  contentEncryptionAlgorithms: ['A256GCM'],
  maxDecompressedLength: 0,
}

export interface SealOptions {
  /**
   * When set, the protected header carries `exp` (RFC 7519 §5.3, seconds, rounded down so the
   * value never outlives it) and `unseal` refuses the value from then on.
   */
  readonly expiresAtMs?: number
}

export interface UnsealOptions {
  /** The time `exp` is checked against; the system clock when omitted. */
  readonly nowMs?: number
}

/**
 * Encrypts `value` (as JSON) under the ring's current key.
 * @throws TypeError when `value` has no JSON form (undefined, a function, a BigInt).
 * @throws RangeError when the sealed value would be longer than MAX_SEALED_LENGTH (unseal would refuse it).
 */
export async function seal(value: unknown, ring: KeyRing, options: SealOptions = {}): Promise<string> {
  const json = JSON.stringify(value) as string | undefined
  if (json === undefined) throw new TypeError('seal: the value has no JSON form')
  const header: CompactJWEHeaderParameters = { alg: 'dir', enc: 'A256GCM', kid: ring.current.kid }
  if (options.expiresAtMs !== undefined) header.exp = Math.floor(options.expiresAtMs / 1000)
  const token = await new CompactEncrypt(new TextEncoder().encode(json))
    .setProtectedHeader(header)
    .encrypt(await ring.current.key)
  if (token.length > MAX_SEALED_LENGTH) throw new RangeError('seal: the sealed value is too large')
  return token
}

/** True when `token` could be a value sealed by `seal` (cheap, no decoding). */
export function looksSealed(token: unknown): token is string {
  if (typeof token !== 'string' || token.length > MAX_SEALED_LENGTH) return false
  const parts = SEALED_SHAPE.exec(token)
  return parts !== null && isCanonical(parts[1] as string) && isCanonical(parts[2] as string) && isCanonical(parts[3] as string)
}

/**
 * The value sealed in `token` under any key of the ring, or undefined when the token is malformed,
 * tampered with, under an unknown kid, or past its `exp`. Never throws.
 */
export async function unseal(token: string, ring: KeyRing, options: UnsealOptions = {}): Promise<unknown> {
  if (!looksSealed(token)) return undefined
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(
      token,
      (header: CompactJWEHeaderParameters) => {
        const key = ring.all.get(header.kid ?? '')
        if (key === undefined) throw new Error('unknown kid')
        return key.key
      },
      DECRYPT_OPTIONS,
    )
    const { exp } = protectedHeader
    if (exp !== undefined && !(typeof exp === 'number' && (options.nowMs ?? systemClock.now()) < exp * 1000)) {
      return undefined
    }
    return JSON.parse(new TextDecoder().decode(plaintext)) as unknown
  } catch {
    return undefined
  }
}
