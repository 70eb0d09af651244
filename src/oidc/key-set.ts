/**
 * The signing keys of one issuer, fetched from its `jwks_uri` and kept in memory.
 *
 * - Keys are looked up by `kid` only: a token without `kid` is refused (Dex always sets one), and
 *   `jku`, `x5u` and an embedded `jwk` are never used to find a key (RFC 8725 §3.10).
 * - An unknown `kid` triggers a refetch at most every `minRefetchMs` (a few seconds, not jose's
 *   30 s cooldown), so a token signed right after a Dex key rotation (every 6 h) is accepted
 *   within seconds; concurrent misses share one fetch.
 * - A fetch replaces key material: a `kid` published with other material than before gets the new
 *   key (the old one stops verifying at once), and a signature that fails under a known `kid` can
 *   ask for that refetch (`recheck`), so a provider that re-keys under the same `kid` is followed
 *   without a restart. Observers hear of every fetch and of every kid replaced or withdrawn.
 * - When a refetch fails the last good keys stay in use, so tokens keep verifying while the
 *   provider is down (dex-rp-conformance-security.md §1.3).
 */
import { KeyObject } from 'node:crypto'
import { importJWK, type JWK } from 'jose'
import { ProviderUnavailableError, TokenRejectedError } from '../errors.js'
import type { Clock } from '../clock.js'
import type { Fetch } from './fetch.js'
import { keyFitsAlgorithm } from './jws-signature.js'

/** A public key imported for one algorithm, as node:crypto verifies with it (oidc/jws-signature.ts). */
export type VerificationKey = KeyObject

/**
 * When a lookup may go back to the provider. `rate-limited` (bearer checks): at most one fetch
 * every `minRefetchMs`, shared, so junk tokens cannot make the service hammer the provider. `now`
 * (an ID token just received from the token endpoint, which junk cannot reach): shares a fetch in
 * flight or starts one.
 */
export type Refetch = 'rate-limited' | 'now'

/** A kid whose earlier key no longer verifies: other material published under it, or the kid gone. */
export interface KeyChange {
  readonly kid: string
  readonly change: 'replaced' | 'withdrawn'
}

/** Told about the key set's fetches; must not throw. */
export interface KeySetObserver {
  /** A fetch ended: `ok` (the published keys are the ones in use now) or `failed` (the last good ones stay). */
  readonly fetched?: (result: 'ok' | 'failed') => void
  /** A fetch replaced or withdrew these kids. */
  readonly changed?: (changes: readonly KeyChange[]) => void
}

export interface KeySet {
  /** The key for `kid` usable with `alg`; an unknown kid refetches once (see Refetch). */
  keyFor(kid: string, alg: string, refetch?: Refetch): Promise<VerificationKey>
  /**
   * A signature did not verify under `kid`: refetches (see Refetch) and resolves the key now
   * published under `kid` for `alg` when its material changed, else undefined. Never rejects.
   */
  recheck(kid: string, alg: string, refetch?: Refetch): Promise<VerificationKey | undefined>
  /**
   * True when keyFor(kid, …, refetch) would refuse at once: `kid` is not published and no refetch may
   * start now. Synchronous and cheap, so a verifier can refuse an unknown kid before any other work.
   */
  refusesNow(kid: string, refetch?: Refetch): boolean
  /** True once a key set has been loaded (they are kept through later fetch failures). */
  hasKeys(): boolean
  /** Fetches now (used at startup and by readiness); rejects with ProviderUnavailableError. */
  refresh(): Promise<void>
  observe(observer: KeySetObserver): void
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

/** The members that make a public key and what it may verify: equal members, same key. */
const MATERIAL = ['kty', 'crv', 'n', 'e', 'x', 'y', 'alg'] as const
const sameKey = (a: JWK, b: JWK) => MATERIAL.every((member) => a[member] === b[member])

/** A key meant for signatures: a string kid, `use` sig or unset, `key_ops` unset or naming verify (RFC 7517 §4.2-4.3). */
const isVerificationJwk = (jwk: JWK | null | undefined): jwk is JWK & { kid: string } =>
  typeof jwk?.kid === 'string' &&
  (jwk.use === undefined || jwk.use === 'sig') &&
  (jwk.key_ops === undefined || (Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify')))

export function createKeySet(options: KeySetOptions): KeySet {
  const minRefetchMs = options.minRefetchMs ?? 5_000
  const maxAgeMs = options.maxAgeMs ?? 10 * 60_000
  const timeoutMs = options.timeoutMs ?? 3_000
  const observers: KeySetObserver[] = []
  let keys = new Map<string, CachedJwk>()
  let loaded = false
  let fetchedAt = -Infinity
  let attemptedAt = -Infinity
  let inFlight: Promise<void> | undefined

  async function load(): Promise<KeyChange[]> {
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
    for (const jwk of list as Array<JWK | null>) {
      if (!isVerificationJwk(jwk)) continue
      const known = keys.get(jwk.kid)
      // The same key keeps its imported forms (importing costs more than the lookup); other
      // material under a known kid is a new key, and the old one stops verifying now.
      next.set(jwk.kid, known !== undefined && sameKey(known.jwk, jwk) ? known : { jwk, imported: new Map() })
    }
    // An empty set is an outage, not a rotation: keep verifying with the keys we had.
    if (next.size === 0) throw new ProviderUnavailableError('identity provider published no signing keys')
    const changes: KeyChange[] = []
    for (const [kid, known] of keys) {
      const published = next.get(kid)
      if (published !== known) changes.push({ kid, change: published === undefined ? 'withdrawn' : 'replaced' })
    }
    keys = next
    loaded = true
    fetchedAt = options.clock.now()
    return changes
  }

  function refresh(): Promise<void> {
    inFlight ??= load()
      .then(
        (changes) => {
          for (const observer of observers) {
            observer.fetched?.('ok')
            if (changes.length > 0) observer.changed?.(changes)
          }
        },
        (error: unknown) => {
          for (const observer of observers) observer.fetched?.('failed')
          throw error
        },
      )
      .finally(() => {
        inFlight = undefined
      })
    return inFlight
  }

  /** True when a `rate-limited` refetch must not start now (one attempted recently, none in flight). */
  const rateLimited = (refetch: Refetch) =>
    refetch === 'rate-limited' && inFlight === undefined && options.clock.now() - attemptedAt < minRefetchMs

  function importFor(entry: CachedJwk, alg: string): Promise<VerificationKey> {
    let key = entry.imported.get(alg)
    if (!key) {
      // A key advertised for one algorithm is never used with another (RFC 8725 §3.1).
      if (entry.jwk.alg !== undefined && entry.jwk.alg !== alg) {
        return Promise.reject(TokenRejectedError.refusal('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm does not match its key'))
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
          throw TokenRejectedError.refusal('ERR_TOKEN_ALG_NOT_ALLOWED', 'token algorithm does not fit its key', { cause })
        })
      entry.imported.set(alg, key)
    }
    return key
  }

  return {
    hasKeys: () => loaded,
    refusesNow: (kid, refetch = 'rate-limited') => !keys.has(kid) && rateLimited(refetch),
    refresh,
    observe(observer) {
      observers.push(observer)
    },
    async keyFor(kid, alg, refetch = 'rate-limited') {
      const now = options.clock.now()
      if (loaded && now - fetchedAt > maxAgeMs && now - attemptedAt > minRefetchMs) {
        // Stale: refresh in the background, keep answering from what we have.
        refresh().catch(() => undefined)
      }
      let entry = keys.get(kid)
      if (!entry) {
        if (rateLimited(refetch)) throw TokenRejectedError.refusal('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key')
        await refresh()
        entry = keys.get(kid)
        if (!entry) throw TokenRejectedError.refusal('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key')
      }
      return importFor(entry, alg)
    },
    async recheck(kid, alg, refetch = 'rate-limited') {
      const before = keys.get(kid)
      if (rateLimited(refetch)) return undefined
      try {
        await refresh()
      } catch {
        return undefined
      }
      const after = keys.get(kid)
      return after === undefined || after === before ? undefined : importFor(after, alg).catch(() => undefined)
    },
  }
}
