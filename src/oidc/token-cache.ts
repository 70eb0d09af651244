/**
 * A bounded cache of verified tokens in front of a TokenVerifier, so a repeated credential skips
 * signature verification. Keyed by a SHA-256 of the token (the token itself is never kept as a key
 * or logged); only successes are cached; an entry never outlives its token's `exp` nor `maxTtlMs`
 * (so a key withdrawn from the JWKS stops working soon after). Least-recently-used eviction.
 */
import { createHash } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { TokenVerifier, VerifiedToken } from './token-verifier.js'

export interface TokenCacheStats {
  size(): number
  hits(): number
  misses(): number
}

export interface CachingVerifierOptions {
  maxEntries?: number
  maxTtlMs?: number
  clock: Clock
}

interface Entry {
  verified: VerifiedToken
  expiresAtMs: number
}

export function createCachingVerifier(
  verifier: TokenVerifier,
  options: CachingVerifierOptions,
): TokenVerifier & { stats: TokenCacheStats } {
  const maxEntries = options.maxEntries ?? 10_000
  const maxTtlMs = options.maxTtlMs ?? 5 * 60_000
  const entries = new Map<string, Entry>()
  let hits = 0
  let misses = 0
  // The least recently used entry is the first one left after those the last eviction took: a Map
  // iterator skips deleted entries and reaches the ones set later, so one long-lived iterator finds
  // it at once. A fresh `entries.keys().next()` per eviction walks over every slot that hits and
  // evictions have emptied since V8 last rehashed the Map (~5 µs per miss once the cache is full).
  const oldest = entries.keys()

  return {
    stats: { size: () => entries.size, hits: () => hits, misses: () => misses },
    async verify(token) {
      const key = createHash('sha256').update(token).digest('base64url')
      const now = options.clock.now()
      const cached = entries.get(key)
      if (cached) {
        entries.delete(key)
        if (cached.expiresAtMs > now) {
          entries.set(key, cached) // most recently used goes last
          hits++
          return cached.verified
        }
      }
      misses++
      const verified = await verifier.verify(token)
      entries.set(key, { verified, expiresAtMs: Math.min(verified.expiresAtMs, now + maxTtlMs) })
      if (entries.size > maxEntries) entries.delete(oldest.next().value as string)
      return verified
    },
  }
}
