/**
 * A short fingerprint of a credential for the decision log: the first 8 hex digits of its SHA-256.
 * It tells two requests' credentials apart and lets `authservice explain` confirm that the token an
 * operator pastes is the one a log line was written for, while saying nothing about the credential
 * (32 bits of a hash of a high-entropy value; the verified-token cache keys on the whole hash).
 */
import { hash } from 'node:crypto'

export const FINGERPRINT_HEX_DIGITS = 8

export function credentialFingerprint(credential: string): string {
  return hash('sha256', credential, 'hex').slice(0, FINGERPRINT_HEX_DIGITS)
}
