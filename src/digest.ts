/**
 * SHA-256 of a credential, as base64url: the verified-token cache (oidc/token-cache.ts) and the cookie
 * store's opened sessions (session/cookie-store.ts) key on it, and the decision log's fingerprint is
 * its first 32 bits (check/fingerprint.ts).
 */
import { hash } from 'node:crypto'

export type Sha256 = (value: string) => string

export const sha256: Sha256 = (value) => hash('sha256', value, 'base64url')

/**
 * sha256 remembering its last answer. One check hashes its bearer token (or session cookie) for the
 * cache and again for its decision line, and nothing runs between the two unless the check waits on I/O (a cache miss);
 * then another check's value takes the slot and the second call hashes again: a lost saving, never a
 * wrong digest. Saves a SHA-256 of a ~1 KB token (a ~2 KB sealed cookie) on every logged check. One per service.
 */
export function lastValueSha256(): Sha256 {
  let lastValue: string | undefined
  let lastDigest = ''
  return (value) => {
    if (value !== lastValue) {
      lastDigest = sha256(value)
      lastValue = value
    }
    return lastDigest
  }
}
