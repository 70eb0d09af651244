/**
 * The signing keys of one issuer, fetched from its `jwks_uri` and kept in memory.
 *
 * - Keys are looked up by `kid` only: a token without `kid` is refused (Dex always sets one), and
 *   `jku`, `x5u` and an embedded `jwk` are never used to find a key (RFC 8725 §3.10).
 * - An unknown `kid` triggers a refetch at most every `minRefetchMs` (a few seconds, not jose's
 *   30 s cooldown), so a token signed right after a Dex key rotation (every 6 h) is accepted
 *   within seconds; concurrent misses share one fetch.
 * - When a refetch fails the last good keys stay in use, so tokens keep verifying while the
 *   provider is down (dex-rp-conformance-security.md §1.3).
 */
import { KeyObject } from 'node:crypto'
import { importJWK, type JWK } from 'jose'
import { ProviderUnavailableError, TokenRejectedError } from '../errors.js'
import type { Clock } from '../clock.js'
import type { Fetch } from '../http/fetch.js'
import { keyFitsAlgorithm } from './jws-signature.js'

/** A public key imported for one algorithm, as node:crypto verifies with it (oidc/jws-signature.ts). */
export type VerificationKey = KeyObject

export interface KeySet {
  /** The key for `kid` usable with `alg`; refetches once (rate-limited) when the kid is unknown. */
  keyFor(kid: string, alg: string): Promise<VerificationKey>
  /** True once a key set has been loaded (they are kept through later fetch failures). */
  hasKeys(): boolean
  /** Fetches now (used at startup and by readiness); rejects with ProviderUnavailableError. */
  refresh(): Promise<void>
}

export interface KeySetOptions {
  jwksUri: () => string | undefined
  fetch: Fetch
  clock: Clock
  headers?: () => Record<string, string>
  minRefetchMs?: number
  maxAgeMs?: number
  timeoutMs?: number
}

interface CachedJwk {
  jwk: JWK
  imported: Map<string, Promise<VerificationKey>>
}

export function createKeySet(options: KeySetOptions): KeySet {
  const minRefetchMs = options.minRefetchMs ?? 5_000
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000
  const timeoutMs = options.timeoutMs ?? 3_000
  let keys = new Map<string, CachedJwk>()
  let loaded = false
  let fetchedAt = -Infinity
  let attemptedAt = -Infinity
  let inFlight: Promise<void> | undefined

  async function load(): Promise<void> {
    attemptedAt = options.clock.now()
    const uri = options.jwksUri()
    if (!uri) throw new ProviderUnavailableError('identity provider keys location unknown')
    let body: unknown
    try {
      const response = await options.fetch(uri, {
        headers: { accept: 'application/json', ...options.headers?.() },
        signal: AbortSignal.timeout(timeoutMs),
      })
      if (response.status !== 200) throw new Error(`JWKS answered ${response.status}`)
      body = await response.json()
    } catch (cause) {
      throw new ProviderUnavailableError('identity provider keys unavailable', { cause })
    }
    const list = (body as { keys?: unknown } | null)?.keys
    if (!Array.isArray(list)) throw new ProviderUnavailableError('identity provider keys malformed')
    const next = new Map<string, CachedJwk>()
    for (const jwk of list as JWK[]) {
      if (typeof jwk?.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) continue
      // Keep already-imported keys: importing costs more than the lookup.
      next.set(jwk.kid, keys.get(jwk.kid) ?? { jwk, imported: new Map() })
    }
    // An empty set is an outage, not a rotation: keep verifying with the keys we had.
    if (next.size === 0) throw new ProviderUnavailableError('identity provider published no signing keys')
    keys = next
    loaded = true
    fetchedAt = options.clock.now()
  }

  function refresh(): Promise<void> {
    inFlight ??= load().finally(() => {
      inFlight = undefined
    })
    return inFlight
  }

  function importFor(entry: CachedJwk, alg: string): Promise<VerificationKey> {
    let key = entry.imported.get(alg)
    if (!key) {
      // A key advertised for one algorithm is never used with another (RFC 8725 §3.1).
      if (entry.jwk.alg !== undefined && entry.jwk.alg !== alg) {
        return Promise.reject(new TokenRejectedError('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm does not match its key'))
      }
      // jose checks that the JWK fits `alg` while importing; node:crypto then verifies with it.
      key = importJWK({ ...entry.jwk, alg }, alg)
        .then((imported) => {
          // (Never a secret: no HMAC algorithm gets here; KeyObject.from would refuse its bytes.)
          const keyObject = KeyObject.from(imported as CryptoKey)
          if (!keyFitsAlgorithm(keyObject, alg)) throw new Error(`key ${entry.jwk.kid} cannot verify ${alg}`)
          return keyObject
        })
        .catch((cause: unknown) => {
          entry.imported.delete(alg)
          throw new TokenRejectedError('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm does not fit its key', { cause })
        })
      entry.imported.set(alg, key)
    }
    return key
  }

  return {
    hasKeys: () => loaded,
    refresh,
    async keyFor(kid, alg) {
      const now = options.clock.now()
      if (loaded && now - fetchedAt > maxAgeMs && now - attemptedAt > minRefetchMs) {
        // Stale: refresh in the background, keep answering from what we have.
        refresh().catch(() => undefined)
      }
      let entry = keys.get(kid)
      if (!entry) {
        if (now - attemptedAt < minRefetchMs && !inFlight) {
          throw new TokenRejectedError('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key')
        }
        await refresh()
        entry = keys.get(kid)
        if (!entry) throw new TokenRejectedError('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key')
      }
      return importFor(entry, alg)
    },
  }
}
