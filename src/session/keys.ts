/**
 * Session keys from configuration: every secret goes through HKDF-SHA256 (RFC 5869) to a 256-bit
 * AES key, one key ring per purpose, so the session cookie and the login-flow cookie never share a
 * key even though they come from the same secrets.
 *
 * Without SESSION_SECRETS the keys come from CLIENT_SECRET, so every replica agrees on them without
 * new configuration (rotating CLIENT_SECRET then ends every session; config/load.ts warns about
 * that). A CLIENT_SECRET published in public manifests (an unchanged Kubeflow install's) is refused
 * at start without SESSION_SECRETS (config/load.ts): keys derived from it could forge sessions.
 */
import { createHash, hkdfSync } from 'node:crypto'
import { ConfigError } from '../errors.js'

export type KeyPurpose = 'session' | 'login-flow'

export interface SessionKey {
  /** Short key id put in the JWE header: the first 8 base64url characters of SHA-256(key). */
  readonly kid: string
  /**
   * The AES-256-GCM key, imported once as a non-extractable WebCrypto key. jose uses a CryptoKey
   * as it is, whereas raw bytes or a KeyObject would be re-imported on every seal and unseal.
   */
  readonly key: Promise<CryptoKey>
}

export interface KeyRing {
  /** Seals: derived from the first secret. */
  readonly current: SessionKey
  /** Unseal: every configured secret, by kid (the first included), so rotation logs nobody out. */
  readonly all: ReadonlyMap<string, SessionKey>
}

const SALT = 'authservice'
const KEY_BYTES = 32

/** HKDF-SHA256 of one secret, imported once. */
function deriveKey(secret: Uint8Array, purpose: KeyPurpose): SessionKey {
  const bytes = new Uint8Array(hkdfSync('sha256', secret, SALT, `authservice/${purpose}/v1`, KEY_BYTES))
  const kid = createHash('sha256').update(bytes).digest('base64url').slice(0, 8)
  // Raw AES key import cannot fail for 32 bytes; non-extractable so the material never leaves WebCrypto.
  const key = crypto.subtle.importKey('raw', bytes, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt'])
  return { kid, key }
}

/**
 * The key ring for `purpose`: SESSION_SECRETS in order (the first seals, all unseal), or, when none
 * is configured, the UTF-8 bytes of CLIENT_SECRET.
 * @throws ConfigError (ERR_CONFIG_INVALID) when there is no secret at all to derive from.
 */
export function deriveKeys(
  input: { readonly sessionSecrets: readonly Uint8Array[]; readonly clientSecret: string },
  purpose: KeyPurpose,
): KeyRing {
  const secrets =
    input.sessionSecrets.length > 0 ? input.sessionSecrets : [new TextEncoder().encode(input.clientSecret)]
  if (secrets.some((secret) => secret.length === 0)) {
    // A key derived from nothing is a key everyone knows: anyone could forge sessions.
    throw new ConfigError(['SESSION_SECRETS: required when CLIENT_SECRET is empty'])
  }
  const keys = secrets.map((secret) => deriveKey(secret, purpose))
  const all = new Map<string, SessionKey>()
  for (const key of keys) if (!all.has(key.kid)) all.set(key.kid, key)
  return { current: keys[0], all }
}
