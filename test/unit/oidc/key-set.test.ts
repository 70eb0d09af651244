/** The JWKS of one issuer: lookup by kid, rate-limited refetch on unknown kids, stale refresh, last good keys kept. */
import { generateKeyPairSync } from 'node:crypto'
import type { JWK } from 'jose'
import t from 'tap'
import type { Clock } from '../../../src/clock.js'
import { ProviderUnavailableError } from '../../../src/errors.js'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { createKeySet, type KeySetOptions } from '../../../src/oidc/key-set.js'
import { createTestKey, type TestKey } from '../../helpers/test-issuer.js'

const JWKS_URI = 'https://dex.example/dex/keys'

interface FakeClock extends Clock {
  advance(ms: number): void
}
const fakeClock = (start = 1_000_000): FakeClock => {
  let now = start
  return { now: () => now, advance: (ms) => void (now += ms) }
}

type Answer = () => Response | Promise<Response>
const json = (body: unknown, status = 200) => () => new Response(JSON.stringify(body), { status })
const jwks = (...keys: unknown[]) => json({ keys })

/** A fetch that answers from a queue (the last answer repeats) and records every call. */
function fakeFetch(...answers: Answer[]) {
  const calls: Array<{ url: string; headers: Record<string, string> | undefined; signal: AbortSignal | undefined }> = []
  const queue = [...answers]
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, headers: init?.headers, signal: init?.signal })
    const answer = queue.length > 1 ? queue.shift() : queue[0]
    return (answer as Answer)()
  }
  return { fetch, calls, answer: (...next: Answer[]) => queue.splice(0, queue.length, ...next) }
}

/** A promise settled from outside, for a fetch that is still in flight. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const keySet = (fetch: Fetch, clock: Clock, extra: Partial<KeySetOptions> = {}) =>
  createKeySet({ jwksUri: () => JWKS_URI, fetch, clock, ...extra })

let a: TestKey
let b: TestKey
let ec: TestKey
t.before(async () => {
  a = await createTestKey('RS256')
  b = await createTestKey('RS256')
  ec = await createTestKey('ES256')
})

t.test('refresh loads the JWKS with accept: application/json and a timeout signal', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  t.equal(keys.hasKeys(), false, 'no keys before the first fetch')
  await keys.refresh()
  t.equal(keys.hasKeys(), true)
  t.equal(calls.length, 1)
  t.equal(calls[0]?.url, JWKS_URI)
  t.same(calls[0]?.headers, { accept: 'application/json' })
  t.type(calls[0]?.signal, AbortSignal)
  const key = await keys.keyFor(a.kid, 'RS256')
  t.equal(key.type, 'public', 'the published key is imported')
  t.equal(calls.length, 1, 'a known kid needs no fetch')
})

t.test('extra headers (the service-account token of the Kubernetes issuer) are sent, read on every fetch', async (t) => {
  let token = 'first'
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock(), { headers: () => ({ authorization: `Bearer ${token}` }) })
  await keys.refresh()
  token = 'rotated'
  await keys.refresh()
  t.same(
    calls.map((call) => call.headers),
    [
      { accept: 'application/json', authorization: 'Bearer first' },
      { accept: 'application/json', authorization: 'Bearer rotated' },
    ],
  )
})

t.test('the first lookup loads the keys when nothing was fetched yet', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  t.ok(await keys.keyFor(a.kid, 'RS256'))
  t.equal(calls.length, 1)
})

t.test('an imported key is reused for the same algorithm, also across refreshes', async (t) => {
  const { fetch } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  const first = await keys.keyFor(a.kid, 'RS256')
  t.equal(await keys.keyFor(a.kid, 'RS256'), first)
  await keys.refresh()
  t.equal(await keys.keyFor(a.kid, 'RS256'), first, 'a kid still published keeps its imported key')
})

t.test('keys are looked up by kid only', async (t) => {
  const { fetch } = fakeFetch(jwks(a.publicJwk, b.publicJwk))
  const keys = keySet(fetch, fakeClock())
  await keys.refresh()
  const keyA = await keys.keyFor(a.kid, 'RS256')
  const keyB = await keys.keyFor(b.kid, 'RS256')
  t.not(keyA, keyB)
  t.equal(keyA.export({ format: 'jwk' }).n, a.publicJwk.n, 'the key published under kid a')
  t.equal(keyB.export({ format: 'jwk' }).n, b.publicJwk.n, 'the key published under kid b')
})

t.test('entries without a string kid or meant for encryption are ignored', async (t) => {
  const { kid: _kid, ...noKid } = a.publicJwk
  const numericKid = { ...b.publicJwk, kid: 42 }
  const encryption = { ...ec.publicJwk, use: 'enc' }
  const unmarked = { ...b.publicJwk, kid: 'unmarked', use: undefined }
  const { fetch } = fakeFetch(jwks(null, noKid, numericKid, encryption, unmarked, a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  t.ok(await keys.keyFor(a.kid, 'RS256'), 'use: sig is kept')
  t.ok(await keys.keyFor('unmarked', 'RS256'), 'a key without use is kept')
  clock.advance(10_000)
  await t.rejects(keys.keyFor(ec.kid, 'ES256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' }, 'use: enc is never a signing key')
})

t.test('a key advertised for one algorithm is never used with another', async (t) => {
  const { fetch } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  await keys.refresh()
  await t.rejects(keys.keyFor(a.kid, 'RS512'), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' })
  await t.rejects(keys.keyFor(a.kid, 'ES256'), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' })
})

t.test('an RSA key under 2048 bits is published in vain (RFC 7518 §3.3)', async (t) => {
  const weak = { ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }), kid: 'weak', use: 'sig', alg: 'RS256' }
  const { fetch } = fakeFetch(jwks(weak as JWK))
  const keys = keySet(fetch, fakeClock())
  await keys.refresh()
  await t.rejects(keys.keyFor('weak', 'RS256'), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' })
})

t.test('a key without alg that does not fit the token algorithm is refused, every time', async (t) => {
  const { alg: _alg, ...rsaWithoutAlg } = a.publicJwk
  const { fetch } = fakeFetch(jwks(rsaWithoutAlg))
  const keys = keySet(fetch, fakeClock())
  await keys.refresh()
  await t.rejects(keys.keyFor(a.kid, 'ES256'), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' })
  await t.rejects(keys.keyFor(a.kid, 'ES256'), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' }, 'a failed import is not cached as a key')
  t.ok(await keys.keyFor(a.kid, 'RS256'), 'the fitting algorithm still works')
})

t.test('an unknown kid refetches once, then is refused', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock, { minRefetchMs: 2_000 })
  await keys.refresh()
  clock.advance(2_000)
  await t.rejects(keys.keyFor('unknown', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.equal(calls.length, 2, 'refetched for the unknown kid')
})

t.test('unknown kids refetch at most every minRefetchMs', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock, { minRefetchMs: 2_000 })
  await keys.refresh()
  clock.advance(1_999)
  await t.rejects(keys.keyFor('unknown-1', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  await t.rejects(keys.keyFor('unknown-2', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.equal(calls.length, 1, 'no refetch within the interval')
  clock.advance(1)
  await t.rejects(keys.keyFor('unknown-3', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.equal(calls.length, 2, 'refetch once the interval has passed')
})

t.test('refusesNow says, without fetching, whether keyFor would refuse a kid at once', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock, { minRefetchMs: 2_000 })
  await keys.refresh()
  t.equal(keys.refusesNow(a.kid), false, 'a published kid')
  t.equal(keys.refusesNow('unknown'), true, 'an unknown kid within the refetch interval')
  t.equal(keys.refusesNow('unknown', 'now'), false, 'unless the lookup may refetch at once (login path)')
  clock.advance(2_000)
  t.equal(keys.refusesNow('unknown'), false, 'an unknown kid once a refetch may run')
  t.equal(calls.length, 1, 'asking fetched nothing')
})

t.test('by default the refetch interval is 5 seconds', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  clock.advance(4_999)
  await t.rejects(keys.keyFor('unknown', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.equal(calls.length, 1)
  clock.advance(1)
  await t.rejects(keys.keyFor('unknown', 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.equal(calls.length, 2)
})

t.test('a key published after a rotation is found by the refetch its kid triggers', async (t) => {
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  answer(jwks(b.publicJwk, a.publicJwk))
  clock.advance(5_000)
  t.ok(await keys.keyFor(b.kid, 'RS256'))
  t.ok(await keys.keyFor(a.kid, 'RS256'), 'the previous key still verifies')
  t.equal(calls.length, 2)
})

t.test('concurrent lookups of an unknown kid share one fetch', async (t) => {
  const pending = deferred<Response>()
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  clock.advance(5_000)
  answer(() => pending.promise)
  const lookups = [keys.keyFor(b.kid, 'RS256'), keys.keyFor(b.kid, 'RS256'), keys.keyFor('other', 'RS256')]
  pending.resolve(jwks(a.publicJwk, b.publicJwk)())
  const [first, second, third] = await Promise.allSettled(lookups)
  t.equal(first?.status, 'fulfilled')
  t.equal(second?.status, 'fulfilled')
  t.match(third, { status: 'rejected', reason: { code: 'ERR_TOKEN_UNKNOWN_KEY' } })
  t.equal(calls.length, 2, 'one refetch for all three lookups')
})

t.test('concurrent refreshes share one fetch', async (t) => {
  const pending = deferred<Response>()
  const { fetch, calls } = fakeFetch(() => pending.promise, jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  const both = Promise.all([keys.refresh(), keys.refresh()])
  pending.resolve(jwks(a.publicJwk)())
  await both
  t.equal(calls.length, 1)
  await keys.refresh()
  t.equal(calls.length, 2, 'a later refresh fetches again')
})

t.test('keys older than maxAgeMs are refreshed in the background while lookups answer from memory', async (t) => {
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock, { maxAgeMs: 60_000, minRefetchMs: 1_000 })
  await keys.refresh()
  const cached = await keys.keyFor(a.kid, 'RS256')
  clock.advance(60_000)
  t.equal(await keys.keyFor(a.kid, 'RS256'), cached)
  t.equal(calls.length, 1, 'not stale at exactly maxAgeMs')

  const pending = deferred<Response>()
  answer(() => pending.promise)
  clock.advance(1)
  t.equal(await keys.keyFor(a.kid, 'RS256'), cached, 'answered while the refresh is still in flight')
  t.equal(calls.length, 2, 'a background refresh started')
  t.equal(await keys.keyFor(a.kid, 'RS256'), cached)
  t.equal(calls.length, 2, 'the in-flight refresh is shared')
  pending.resolve(jwks(b.publicJwk)())
  await keys.refresh() // still the in-flight one: called before it could settle
  t.equal(calls.length, 2)
  answer(jwks(b.publicJwk))
  clock.advance(2_000)
  await t.rejects(keys.keyFor(a.kid, 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' }, 'a key withdrawn from the JWKS is gone after the refresh')
})

t.test('by default keys go stale after 10 minutes', async (t) => {
  const { fetch, calls } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  clock.advance(600_000)
  await keys.keyFor(a.kid, 'RS256')
  t.equal(calls.length, 1)
  clock.advance(1)
  await keys.keyFor(a.kid, 'RS256')
  t.equal(calls.length, 2)
})

t.test('a failed background refresh is swallowed, keeps the keys, and is not retried within minRefetchMs', async (t) => {
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock, { maxAgeMs: 60_000, minRefetchMs: 1_000 })
  await keys.refresh()
  const failed = deferred<Response>()
  answer(() => failed.promise)
  clock.advance(60_001)
  const cached = await keys.keyFor(a.kid, 'RS256')
  failed.reject(new Error('connection refused'))
  // Called before the background refresh could settle, so this awaits that same attempt.
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
  t.equal(calls.length, 2)
  answer(() => Promise.reject(new Error('still down')))
  t.equal(await keys.keyFor(a.kid, 'RS256'), cached)
  t.equal(calls.length, 2, 'no new attempt right after a failed one')
  t.equal(keys.hasKeys(), true)
})

t.test('while the provider is down the last good keys stay in use', async (t) => {
  const { fetch, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  answer(json({ error: 'down' }, 503))
  clock.advance(5_000)
  await t.rejects(keys.keyFor('unknown', 'RS256'), ProviderUnavailableError, 'an unknown kid during an outage is an outage, not a bad token')
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
  t.equal(keys.hasKeys(), true)
  t.ok(await keys.keyFor(a.kid, 'RS256'))
})

t.test('refresh fails with ERR_PROVIDER_UNAVAILABLE when', async (t) => {
  const cases: Array<[name: string, options: Partial<KeySetOptions>, answer: Answer | undefined]> = [
    ['the keys location is not known yet (no discovery)', { jwksUri: () => undefined }, undefined],
    ['the request fails', {}, () => Promise.reject(new Error('ECONNREFUSED'))],
    ['the JWKS answers another status than 200', {}, json({ keys: [] }, 500)],
    ['the body is not JSON', {}, () => new Response('<html>', { status: 200 })],
    ['the body has no keys array', {}, json({ keys: {} })],
    ['the body is a JSON string', {}, json('keys')],
  ]
  for (const [name, options, answer] of cases) {
    const { fetch, calls } = fakeFetch(answer ?? jwks())
    const keys = keySet(fetch, fakeClock(), options)
    await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' }, name)
    t.equal(keys.hasKeys(), false, `${name}: no keys`)
    if (answer === undefined) t.equal(calls.length, 0, `${name}: nothing fetched`)
  }
})

t.test('a JWKS that does not answer within timeoutMs is unavailable', async (t) => {
  const fetch: Fetch = (_url, init) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))
  const keys = keySet(fetch, fakeClock(), { timeoutMs: 5 })
  // AbortSignal.timeout's timer does not keep the process alive; this one does, until the answer.
  const keepAlive = setInterval(() => undefined, 1_000)
  t.teardown(() => clearInterval(keepAlive))
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE', cause: { name: 'TimeoutError' } })
})

t.test('a JWKS body of null is malformed (ERR_PROVIDER_UNAVAILABLE)', async (t) => {
  const { fetch } = fakeFetch(json(null))
  const keys = keySet(fetch, fakeClock())
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
})

t.test('a JWKS with no usable signing key is an outage: the keys already loaded stay in use', async (t) => {
  const { fetch, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  answer(jwks({ ...b.publicJwk, use: 'enc' }))
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
  t.ok(keys.hasKeys(), 'still ready')
  t.ok(await keys.keyFor(a.kid, 'RS256'), 'the earlier key still verifies')

  const empty = keySet(fakeFetch(jwks()).fetch, fakeClock())
  await t.rejects(empty.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
  t.notOk(empty.hasKeys(), 'an empty first answer does not make the service ready')
})

// Issue 15, finding 1: a refetch kept the old key object for any kid it already knew, so a provider
// that re-keyed under the same kid had its new tokens refused (and the withdrawn key's accepted) until a restart.
t.test('a refetch replaces the key material published under a kid it already knew', async (t) => {
  const sameKid = await createTestKey('RS256', a.kid)
  const { fetch, answer } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  const before = await keys.keyFor(a.kid, 'RS256')
  answer(jwks(sameKid.publicJwk))
  await keys.refresh()
  const after = await keys.keyFor(a.kid, 'RS256')
  t.not(after, before, 'a new key object')
  t.equal(after.export({ format: 'jwk' }).n, sameKid.publicJwk.n, 'the material now published under the kid')
})

t.test('observers hear of every fetch and of each kid replaced or withdrawn', async (t) => {
  const replacement = await createTestKey('RS256', a.kid)
  const { fetch, answer } = fakeFetch(jwks(a.publicJwk, b.publicJwk))
  const keys = keySet(fetch, fakeClock())
  const fetched: string[] = []
  const changed: unknown[] = []
  keys.observe({ fetched: (result) => fetched.push(result), changed: (changes) => changed.push(changes) })
  keys.observe({})
  await keys.refresh()
  await keys.refresh()
  t.same(changed, [], 'the first fetch and an unchanged one change nothing')
  answer(jwks({ ...a.publicJwk }, ec.publicJwk, { ...b.publicJwk, alg: 'PS256' }))
  await keys.refresh()
  t.same(changed, [[{ kid: b.kid, change: 'replaced' }]], 'the same key in a new JSON object is no change; another alg is')
  answer(jwks(replacement.publicJwk, replacement.publicJwk))
  await keys.refresh()
  t.same(changed[1], [
    { kid: a.kid, change: 'replaced' },
    { kid: ec.kid, change: 'withdrawn' },
    { kid: b.kid, change: 'withdrawn' },
  ])
  answer(json({ error: 'down' }, 503))
  await t.rejects(keys.refresh(), { code: 'ERR_PROVIDER_UNAVAILABLE' })
  t.same(fetched, ['ok', 'ok', 'ok', 'ok', 'failed'])
})

t.test('a key whose key_ops do not include verify is not a signing key (RFC 7517 §4.3)', async (t) => {
  const { fetch } = fakeFetch(jwks({ ...a.publicJwk, key_ops: ['encrypt'] }, { ...b.publicJwk, key_ops: 'verify' }, { ...ec.publicJwk, key_ops: ['verify'] }))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  t.ok(await keys.keyFor(ec.kid, 'ES256'), 'key_ops naming verify')
  clock.advance(10_000)
  await t.rejects(keys.keyFor(a.kid, 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' }, 'key_ops without verify')
  await t.rejects(keys.keyFor(b.kid, 'RS256'), { code: 'ERR_TOKEN_UNKNOWN_KEY' }, 'key_ops that is not a list')
})

t.test('recheck after a failed signature: rate-limited, and the key only when its material changed', async (t) => {
  const replacement = await createTestKey('RS256', a.kid)
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const clock = fakeClock()
  const keys = keySet(fetch, clock)
  await keys.refresh()
  t.equal(await keys.recheck(a.kid, 'RS256'), undefined, 'right after a fetch: nothing')
  t.equal(calls.length, 1, 'and no fetch (a forged signature cannot make us hammer the provider)')
  clock.advance(5_000)
  t.equal(await keys.recheck(a.kid, 'RS256'), undefined, 'refetched, unchanged: nothing')
  t.equal(calls.length, 2)
  answer(jwks(replacement.publicJwk))
  clock.advance(5_000)
  const replaced = await keys.recheck(a.kid, 'RS256')
  t.equal(replaced?.export({ format: 'jwk' }).n, replacement.publicJwk.n, 'replaced: the new key')
  t.equal(await keys.keyFor(a.kid, 'RS256'), replaced, 'which lookups now get')
  answer(jwks({ ...replacement.publicJwk, n: a.publicJwk.n, alg: 'RS512' }))
  clock.advance(5_000)
  t.equal(await keys.recheck(a.kid, 'RS256'), undefined, 'replaced by a key for another algorithm: nothing to verify with')
  answer(json({ error: 'down' }, 503))
  clock.advance(5_000)
  t.equal(await keys.recheck(a.kid, 'RS256'), undefined, 'a failed refetch: nothing, never a rejection')
})

t.test('with refetch "now" (ID tokens from the token endpoint) lookups and rechecks skip the rate limit', async (t) => {
  const replacement = await createTestKey('RS256', a.kid)
  const { fetch, calls, answer } = fakeFetch(jwks(a.publicJwk))
  const keys = keySet(fetch, fakeClock())
  await keys.refresh()
  answer(jwks(replacement.publicJwk, b.publicJwk))
  t.ok(await keys.keyFor(b.kid, 'RS256', 'now'), 'an unknown kid right after a fetch')
  t.equal(calls.length, 2)
  answer(jwks(a.publicJwk, b.publicJwk))
  t.equal((await keys.recheck(a.kid, 'RS256', 'now'))?.export({ format: 'jwk' }).n, a.publicJwk.n, 'a recheck right after a fetch')
  t.equal(calls.length, 3)
  const pending = deferred<Response>()
  answer(() => pending.promise)
  const shared = [keys.recheck(a.kid, 'RS256', 'now'), keys.recheck(a.kid, 'RS256')]
  pending.resolve(jwks(replacement.publicJwk, b.publicJwk)())
  const [first, second] = await Promise.all(shared)
  t.equal(first, second, 'a fetch in flight is shared, also by a rate-limited recheck')
  t.ok(first)
  t.equal(calls.length, 4)
})
