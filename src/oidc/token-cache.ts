/**
 * A bounded cache of verified tokens in front of a TokenVerifier, so a repeated credential skips
 * signature verification. Keyed by a SHA-256 of the token (the token itself is neither kept in the
 * cache nor logged); only successes are cached; an entry never outlives its token's `exp` nor `maxTtlMs`,
 * and `forgetKey` drops the entries of a key the provider replaced or withdrew (the key set says
 * when), so such tokens stop working at once. Least-recently-used eviction.
 *
 * The LRU bookkeeping is lru-cache's (index arrays, no Map churn on a hit). An earlier hand-written
 * LRU moved every hit to the end of a Map and kept one Map iterator for O(1) eviction; a live
 * iterator pins every table V8 has rehashed the Map into since, so the heap grew ~80 MiB per
 * million hits (found under `npm run load`, issue #8).
 */
import { LRUCache } from 'lru-cache'
import type { Clock } from '../clock.js'
import { sha256, type Sha256 } from '../digest.js'
import { TokenRejectedError } from '../errors.js'
import { compactJwsDots } from './compact-jws.js'
import type { TokenVerifier, VerifiedToken } from './token-verifier.js'

export interface TokenCacheStats {
  size(): number
  hits(): number
  misses(): number
}

export interface CachingVerifier extends TokenVerifier {
  readonly stats: TokenCacheStats
  /** Drops every entry verified with `kid` of `issuer` (the key was replaced or withdrawn). */
  forgetKey(issuer: string, kid: string): void
}

export interface CachingVerifierOptions {
  maxEntries?: number
  maxTtlMs?: number
  clock: Clock
  /** The key's SHA-256 (default plain sha256; the service shares one with the decision log's fingerprint). */
  digest?: Sha256
}

/**
 * What a hit needs, without the token itself: the caller holds the token (its hash is the key), so
 * the entry need not keep a copy. The token is the largest part of an entry (~1 KB for a Dex ID
 * token, more as a slice of its Authorization header); kept, it made every cache miss tenure a
 * kilobyte for the old generation to trace: ~8 µs more CPU per miss and a 16–19 instead of ~6 ms
 * p99 under `npm run bench` (cache-miss scenario, 10,000 entries full).
 */
interface Entry {
  readonly issuer: string
  readonly primary: boolean
  readonly claims: VerifiedToken['claims']
  readonly kid: string | undefined
  readonly tokenExpiresAtMs: number
  /** When the entry stops answering: the token's exp or maxTtlMs after verification, whichever is first. */
  readonly expiresAtMs: number
}

export function createCachingVerifier(
  verifier: TokenVerifier,
  options: CachingVerifierOptions,
): CachingVerifier {
  const maxTtlMs = options.maxTtlMs ?? 5 * 60_000
  const digest = options.digest ?? sha256
  // Expiry is checked here against the injected clock (lru-cache's own TTL reads performance.now()).
  const entries = new LRUCache<string, Entry>({ max: options.maxEntries ?? 10_000 })
  let hits = 0
  let misses = 0

  return {
    stats: { size: () => entries.size, hits: () => hits, misses: () => misses },
    forgetKey(issuer, kid) {
      // A walk over at most maxEntries, once per key change (hours apart), never per check.
      const stale: string[] = []
      entries.forEach((entry, key) => {
        if (entry.kid === kid && entry.issuer === issuer) stale.push(key)
      })
      for (const key of stale) entries.delete(key)
    },
    async check(token) {
      // Nothing but a compact JWS was ever verified: other junk goes straight to its refusal, unhashed.
      if (compactJwsDots(token) === undefined) return verifier.check(token)
      const key = digest(token)
      const now = options.clock.now()
      const cached = entries.get(key)
      if (cached !== undefined) {
        if (cached.expiresAtMs > now) {
          hits++
          return { token, issuer: cached.issuer, primary: cached.primary, claims: cached.claims, expiresAtMs: cached.tokenExpiresAtMs, kid: cached.kid }
        }
        entries.delete(key)
      }
      misses++
      const verified = await verifier.check(token)
      if (verified instanceof TokenRejectedError) return verified
      entries.set(key, {
        issuer: verified.issuer,
        primary: verified.primary,
        claims: verified.claims,
        kid: verified.kid,
        tokenExpiresAtMs: verified.expiresAtMs,
        expiresAtMs: Math.min(verified.expiresAtMs, now + maxTtlMs),
      })
      return verified
    },
  }
}
