/** The verified-token cache: successes only, bounded by the token's exp and maxTtlMs, LRU-evicted, keyed by a hash. */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { TokenRejectedError } from '../../../src/errors.js'
import { createCachingVerifier } from '../../../src/oidc/token-cache.js'
import type { TokenVerifier, VerifiedToken } from '../../../src/oidc/token-verifier.js'

const START = 1_750_000_000_000

function fakeClock() {
  let now = START
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

/** An inner verifier that accepts tokens starting with `ok`, expiring `expiresInMs` after START, and counts calls. */
function innerVerifier(expiresInMs = 3_600_000) {
  const calls: string[] = []
  const verifier: TokenVerifier = {
    async verify(token) {
      calls.push(token)
      if (!token.startsWith('ok')) throw new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')
      const verified: VerifiedToken = { token, issuer: 'https://dex', primary: true, claims: { sub: token }, expiresAtMs: START + expiresInMs }
      return verified
    },
  }
  return { verifier, calls }
}

t.test('a repeated token is answered from the cache', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const first = await cache.verify('ok-1')
  const second = await cache.verify('ok-1')
  t.same(second, first, 'the same verified result')
  t.equal(second.token, 'ok-1', 'with the token it was asked about')
  t.same(inner.calls, ['ok-1'], 'verified once')
  t.equal(cache.stats.hits(), 1)
  t.equal(cache.stats.misses(), 1)
  t.equal(cache.stats.size(), 1)
})

t.test('refusals are not cached', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  await t.rejects(cache.verify('bad'), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  await t.rejects(cache.verify('bad'), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  t.same(inner.calls, ['bad', 'bad'], 'verified each time')
  t.equal(cache.stats.size(), 0)
  t.equal(cache.stats.misses(), 2)
  t.equal(cache.stats.hits(), 0)
})

t.test('an entry never outlives its token exp', async (t) => {
  const inner = innerVerifier(60_000)
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock, maxTtlMs: 600_000 })
  await cache.verify('ok-1')
  clock.advance(59_999)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 1, 'cached until just before exp')
  clock.advance(1)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 2, 'verified again at exp (where the verifier decides about skew)')
})

t.test('an entry never outlives maxTtlMs, so a key withdrawn from the JWKS stops working soon', async (t) => {
  const inner = innerVerifier()
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock, maxTtlMs: 1_000 })
  await cache.verify('ok-1')
  clock.advance(999)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 1)
  clock.advance(1)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 2)
  t.equal(cache.stats.size(), 1, 'the expired entry was replaced, not duplicated')
})

t.test('by default entries live at most 5 minutes', async (t) => {
  const inner = innerVerifier()
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock })
  await cache.verify('ok-1')
  clock.advance(299_999)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 1)
  clock.advance(1)
  await cache.verify('ok-1')
  t.equal(inner.calls.length, 2)
})

t.test('an expired entry that fails verification again is dropped', async (t) => {
  let accept = true
  const calls: string[] = []
  const verifier: TokenVerifier = {
    async verify(token) {
      calls.push(token)
      if (!accept) throw new TokenRejectedError('ERR_TOKEN_EXPIRED', 'token expired')
      return { token, issuer: 'https://dex', primary: true, claims: {}, expiresAtMs: START + 1_000 }
    },
  }
  const clock = fakeClock()
  const cache = createCachingVerifier(verifier, { clock })
  await cache.verify('ok-1')
  accept = false
  clock.advance(1_000)
  await t.rejects(cache.verify('ok-1'), { code: 'ERR_TOKEN_EXPIRED' })
  t.equal(cache.stats.size(), 0)
})

t.test('beyond maxEntries the least recently used entry is evicted', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock(), maxEntries: 2 })
  await cache.verify('ok-a')
  await cache.verify('ok-b')
  await cache.verify('ok-a') // a is now the most recently used
  await cache.verify('ok-c') // evicts b
  t.equal(cache.stats.size(), 2)
  inner.calls.length = 0
  await cache.verify('ok-a')
  await cache.verify('ok-c')
  t.same(inner.calls, [], 'a and c are still cached')
  await cache.verify('ok-b')
  t.same(inner.calls, ['ok-b'], 'b was evicted')
  t.equal(cache.stats.size(), 2)
})

t.test('by default it holds 10 000 entries', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  for (let i = 0; i <= 10_000; i++) await cache.verify(`ok-${i}`)
  t.equal(cache.stats.size(), 10_000)
  inner.calls.length = 0
  await cache.verify('ok-10000')
  await cache.verify('ok-1')
  t.same(inner.calls, [], 'the newest entries are kept')
  await cache.verify('ok-0')
  t.same(inner.calls, ['ok-0'], 'the oldest was evicted')
})

t.test('tokens differing in one character are different entries', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const a = await cache.verify('ok-token-a')
  const b = await cache.verify('ok-token-b')
  t.not(a, b)
  t.equal(b.token, 'ok-token-b')
  t.same(inner.calls, ['ok-token-a', 'ok-token-b'])
})

t.test('hits on a few hot tokens do not grow the heap (the Map-iterator leak found under load)', async (t) => {
  // A forced full GC before each reading, so only retained memory counts.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const tokens = Array.from({ length: 9 }, (_, i) => `ok-${i}`)
  for (const token of tokens) await cache.verify(token)
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 300_000; i++) await cache.verify(tokens[i % tokens.length]!)
  gc()
  const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20
  // The leaking version retained ~24 MiB here; a bounded cache retains nothing new.
  t.ok(grownMiB < 4, `heap grew ${grownMiB.toFixed(1)} MiB over 300 000 hits`)
  t.equal(inner.calls.length, 9, 'every one of them was a hit')
  t.equal(cache.stats.hits(), 300_000) // also keeps the cache alive until after the reading
})

t.test('an entry does not keep a copy of its token (a full cache of large tokens stays small)', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const verifier: TokenVerifier = {
    async verify(token) {
      return { token, issuer: 'https://dex', primary: true, claims: { sub: 'alice' }, expiresAtMs: START + 3_600_000 }
    },
  }
  const cache = createCachingVerifier(verifier, { clock: fakeClock(), maxEntries: 2_000 })
  gc()
  const before = process.memoryUsage().heapUsed
  // 2,000 distinct 8 KB tokens, each dropped by the caller once verified: 16 MB if entries kept them.
  for (let i = 0; i < 2_000; i++) await cache.verify(`ok-${i}-${'x'.repeat(8_192)}`)
  gc()
  const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20
  t.equal(cache.stats.size(), 2_000, 'all of them are cached')
  t.ok(grownMiB < 4, `the heap grew ${grownMiB.toFixed(1)} MiB for 2,000 entries of 8 KB tokens`)
  t.equal((await cache.verify(`ok-7-${'x'.repeat(8_192)}`)).token, `ok-7-${'x'.repeat(8_192)}`, 'a hit still answers with the token')
  t.equal(cache.stats.hits(), 1)
})


// Issue 15, finding 1: when the provider replaces (or withdraws) a key, the tokens it verified leave the cache at once.
t.test('forgetKey drops the entries verified with that kid of that issuer, and only those', async (t) => {
  const calls: string[] = []
  const inner: TokenVerifier = {
    async verify(token) {
      calls.push(token)
      const [issuer, kid] = token.split(' ') as [string, string]
      return { token, issuer, primary: true, claims: { sub: token }, expiresAtMs: START + 60_000, kid }
    },
  }
  const cache = createCachingVerifier(inner, { clock: fakeClock() })
  const tokens = ['https://dex k1', 'https://dex k2', 'https://k8s k1']
  for (const token of tokens) await cache.verify(token)
  t.equal((await cache.verify('https://dex k1')).kid, 'k1', 'a hit keeps the kid')
  cache.forgetKey('https://dex', 'k1')
  t.equal(cache.stats.size(), 2)
  for (const token of tokens) await cache.verify(token)
  t.same(calls, [...tokens, 'https://dex k1'], 'only the forgotten key\'s token is verified again')
})
