/** The verified-token cache: successes only, bounded by the token's exp and maxTtlMs, LRU-evicted, keyed by a hash. */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { TokenRejectedError } from '../../../src/errors.js'
import { createCachingVerifier } from '../../../src/oidc/token-cache.js'
import { verifyToken, type TokenVerifier, type VerifiedToken } from '../../../src/oidc/token-verifier.js'

const START = 1_750_000_000_000

function fakeClock() {
  let now = START
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

/** An inner verifier that accepts tokens starting with `ok` (shaped as compact JWSs: only those are cached), expiring `expiresInMs` after START, and counts calls. */
function innerVerifier(expiresInMs = 3_600_000) {
  const calls: string[] = []
  const verifier: TokenVerifier = {
    async check(token) {
      calls.push(token)
      if (!token.startsWith('ok')) return new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')
      const verified: VerifiedToken = { token, issuer: 'https://dex', primary: true, claims: { sub: token }, expiresAtMs: START + expiresInMs }
      return verified
    },
  }
  return { verifier, calls }
}

t.test('a repeated token is answered from the cache', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const first = await verifyToken(cache, 'ok.1.sig')
  const second = await verifyToken(cache, 'ok.1.sig')
  t.same(second, first, 'the same verified result')
  t.equal(second.token, 'ok.1.sig', 'with the token it was asked about')
  t.same(inner.calls, ['ok.1.sig'], 'verified once')
  t.equal(cache.stats.hits(), 1)
  t.equal(cache.stats.misses(), 1)
  t.equal(cache.stats.size(), 1)
})

t.test('a value that is not three non-empty dot-separated parts goes straight to the verifier: no lookup, no entry', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const junk = ['ok', 'ok.sig', 'ok.a.b.c', 'ok..sig', 'ok.a.', '.ok.sig', 'ok.a.b.c.d']
  for (const value of junk) await verifyToken(cache, value).catch(() => undefined)
  t.same(inner.calls, junk, 'each verified (and refused there, in the service)')
  t.same([cache.stats.hits(), cache.stats.misses(), cache.stats.size()], [0, 0, 0], 'the cache never saw them')
})

t.test('refusals are not cached', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  await t.rejects(verifyToken(cache, 'bad.token.sig'), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  await t.rejects(verifyToken(cache, 'bad.token.sig'), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  t.same(inner.calls, ['bad.token.sig', 'bad.token.sig'], 'verified each time')
  t.equal(cache.stats.size(), 0)
  t.equal(cache.stats.misses(), 2)
  t.equal(cache.stats.hits(), 0)
})

t.test('an entry never outlives its token exp', async (t) => {
  const inner = innerVerifier(60_000)
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock, maxTtlMs: 600_000 })
  await verifyToken(cache, 'ok.1.sig')
  clock.advance(59_999)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 1, 'cached until just before exp')
  clock.advance(1)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 2, 'verified again at exp (where the verifier decides about skew)')
})

t.test('an entry never outlives maxTtlMs, so a key withdrawn from the JWKS stops working soon', async (t) => {
  const inner = innerVerifier()
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock, maxTtlMs: 1_000 })
  await verifyToken(cache, 'ok.1.sig')
  clock.advance(999)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 1)
  clock.advance(1)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 2)
  t.equal(cache.stats.size(), 1, 'the expired entry was replaced, not duplicated')
})

t.test('by default entries live at most 5 minutes', async (t) => {
  const inner = innerVerifier()
  const clock = fakeClock()
  const cache = createCachingVerifier(inner.verifier, { clock })
  await verifyToken(cache, 'ok.1.sig')
  clock.advance(299_999)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 1)
  clock.advance(1)
  await verifyToken(cache, 'ok.1.sig')
  t.equal(inner.calls.length, 2)
})

t.test('an expired entry that fails verification again is dropped', async (t) => {
  let accept = true
  const calls: string[] = []
  const verifier: TokenVerifier = {
    async check(token) {
      calls.push(token)
      if (!accept) return new TokenRejectedError('ERR_TOKEN_EXPIRED', 'token expired')
      return { token, issuer: 'https://dex', primary: true, claims: {}, expiresAtMs: START + 1_000 }
    },
  }
  const clock = fakeClock()
  const cache = createCachingVerifier(verifier, { clock })
  await verifyToken(cache, 'ok.1.sig')
  accept = false
  clock.advance(1_000)
  await t.rejects(verifyToken(cache, 'ok.1.sig'), { code: 'ERR_TOKEN_EXPIRED' })
  t.equal(cache.stats.size(), 0)
})

t.test('beyond maxEntries the least recently used entry is evicted', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock(), maxEntries: 2 })
  await verifyToken(cache, 'ok.a.sig')
  await verifyToken(cache, 'ok.b.sig')
  await verifyToken(cache, 'ok.a.sig') // a is now the most recently used
  await verifyToken(cache, 'ok.c.sig') // evicts b
  t.equal(cache.stats.size(), 2)
  inner.calls.length = 0
  await verifyToken(cache, 'ok.a.sig')
  await verifyToken(cache, 'ok.c.sig')
  t.same(inner.calls, [], 'a and c are still cached')
  await verifyToken(cache, 'ok.b.sig')
  t.same(inner.calls, ['ok.b.sig'], 'b was evicted')
  t.equal(cache.stats.size(), 2)
})

t.test('by default it holds 10 000 entries', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  for (let i = 0; i <= 10_000; i++) await verifyToken(cache, `ok.${i}.sig`)
  t.equal(cache.stats.size(), 10_000)
  inner.calls.length = 0
  await verifyToken(cache, 'ok.10000.sig')
  await verifyToken(cache, 'ok.1.sig')
  t.same(inner.calls, [], 'the newest entries are kept')
  await verifyToken(cache, 'ok.0.sig')
  t.same(inner.calls, ['ok.0.sig'], 'the oldest was evicted')
})

t.test('tokens differing in one character are different entries', async (t) => {
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const a = await verifyToken(cache, 'ok.token-a.sig')
  const b = await verifyToken(cache, 'ok.token-b.sig')
  t.not(a, b)
  t.equal(b.token, 'ok.token-b.sig')
  t.same(inner.calls, ['ok.token-a.sig', 'ok.token-b.sig'])
})

t.test('hits on a few hot tokens do not grow the heap (the Map-iterator leak found under load)', async (t) => {
  // A forced full GC before each reading, so only retained memory counts.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const inner = innerVerifier()
  const cache = createCachingVerifier(inner.verifier, { clock: fakeClock() })
  const tokens = Array.from({ length: 9 }, (_, i) => `ok.${i}.sig`)
  for (const token of tokens) await verifyToken(cache, token)
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < 300_000; i++) await verifyToken(cache, tokens[i % tokens.length]!)
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
    async check(token) {
      return { token, issuer: 'https://dex', primary: true, claims: { sub: 'alice' }, expiresAtMs: START + 3_600_000 }
    },
  }
  const cache = createCachingVerifier(verifier, { clock: fakeClock(), maxEntries: 2_000 })
  gc()
  const before = process.memoryUsage().heapUsed
  // 2,000 distinct 8 KB tokens, each dropped by the caller once verified: 16 MB if entries kept them.
  for (let i = 0; i < 2_000; i++) await verifyToken(cache, `ok.${i}-${'x'.repeat(8_192)}.sig`)
  gc()
  const grownMiB = (process.memoryUsage().heapUsed - before) / 2 ** 20
  t.equal(cache.stats.size(), 2_000, 'all of them are cached')
  t.ok(grownMiB < 4, `the heap grew ${grownMiB.toFixed(1)} MiB for 2,000 entries of 8 KB tokens`)
  t.equal((await verifyToken(cache, `ok.7-${'x'.repeat(8_192)}.sig`)).token, `ok.7-${'x'.repeat(8_192)}.sig`, 'a hit still answers with the token')
  t.equal(cache.stats.hits(), 1)
})


// Issue 15, finding 1: when the provider replaces (or withdraws) a key, the tokens it verified leave the cache at once.
t.test('forgetKey drops the entries verified with that kid of that issuer, and only those', async (t) => {
  const calls: string[] = []
  const inner: TokenVerifier = {
    async check(token) {
      calls.push(token)
      const [host, kid] = token.split('.') as [string, string]
      return { token, issuer: `https://${host}`, primary: true, claims: { sub: token }, expiresAtMs: START + 60_000, kid }
    },
  }
  const cache = createCachingVerifier(inner, { clock: fakeClock() })
  const tokens = ['dex.k1.sig', 'dex.k2.sig', 'k8s.k1.sig']
  for (const token of tokens) await verifyToken(cache, token)
  t.equal((await verifyToken(cache, 'dex.k1.sig')).kid, 'k1', 'a hit keeps the kid')
  cache.forgetKey('https://dex', 'k1')
  t.equal(cache.stats.size(), 2)
  for (const token of tokens) await verifyToken(cache, token)
  t.same(calls, [...tokens, 'dex.k1.sig'], 'only the forgotten key\'s token is verified again')
})
