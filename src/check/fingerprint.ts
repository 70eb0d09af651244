/**
 * A short fingerprint of a credential for the decision log: the first 8 hex digits of its SHA-256.
 * It tells two requests' credentials apart and lets `authservice explain` confirm that the token an
 * operator pastes is the one a log line was written for, while saying nothing about the credential
 * (32 bits of a hash of a high-entropy value; the verified-token cache keys on the whole hash).
 */
import { sha256, type Sha256 } from '../digest.js'

export const FINGERPRINT_HEX_DIGITS = 8

/** `digest`: the service's shared one (digest.ts lastValueSha256), so a token the cache just hashed is not hashed again. */
export function credentialFingerprint(credential: string, digest: Sha256 = sha256): string {
  // 8 base64url characters are 48 bits; their first 32 are the digest's first 8 hex digits.
  return Buffer.from(digest(credential).slice(0, 8), 'base64url').toString('hex', 0, FINGERPRINT_HEX_DIGITS / 2)
}
