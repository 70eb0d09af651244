/** One trusted issuer: discovery then keys, retried with capped exponential backoff until ready; close() stops it. */
import { mock } from 'node:test'
import t from 'tap'
import type { Clock } from '../../../src/clock.js'
import { ProviderUnavailableError } from '../../../src/errors.js'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { createIssuer, type IssuerOptions } from '../../../src/oidc/issuer.js'
import { createTestKey, startTestIssuer, type TestKey } from '../../helpers/test-issuer.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const clock: Clock = { now: () => 1_000_000 }

let key: TestKey
t.before(async () => {
  key = await createTestKey()
})

type Answer = () => Response | Promise<Response>
const ok = (body: unknown) => () => new Response(JSON.stringify(body), { status: 200 })
const status = (code: number) => () => new Response('{}', { status: code })
const discoveryDocument = () => ok({ issuer: ISSUER, jwks_uri: `${ISSUER}/keys` })
const jwksDocument = () => ok({ keys: [key.publicJwk] })

/** A provider stub: per endpoint a queue of answers (the last repeats), recording requests. */
function provider(discovery: Answer[], jwks: Answer[]) {
  const calls: Array<{ url: string; headers: Record<string, string> | undefined }> = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, headers: init?.headers })
    const queue = url.endsWith('/.well-known/openid-configuration') ? discovery : jwks
    return ((queue.length > 1 ? queue.shift() : queue[0]) as Answer)()
  }
  return {
    fetch,
    calls,
    discoveries: () => calls.filter((call) => call.url.endsWith('/.well-known/openid-configuration')).length,
    jwksFetches: () => calls.filter((call) => call.url.endsWith('/keys')).length,
  }
}

/** Records onError/onReady and lets a test await the next one. */
function events() {
  const seen: Array<{ type: 'error'; error: unknown; retryInMs: number } | { type: 'ready' }> = []
  let waiting: (() => void) | undefined
  const push = (event: (typeof seen)[number]) => {
    seen.push(event)
    waiting?.()
    waiting = undefined
  }
  return {
    seen,
    retries: () => seen.flatMap((event) => (event.type === 'error' ? [event.retryInMs] : [])),
    onError: (error: unknown, retryInMs: number) => push({ type: 'error', error, retryInMs }),
    onReady: () => push({ type: 'ready' }),
    next: () => new Promise<void>((resolve) => (waiting = resolve)),
  }
}

/** Runs `body` with setTimeout/clearTimeout mocked (node:test MockTimers), restored before the test ends. */
async function withMockTimers(body: (timers: typeof mock.timers) => Promise<void>): Promise<void> {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    await body(mock.timers)
  } finally {
    mock.timers.reset()
  }
}

const issuerWith = (fetch: Fetch, extra: Partial<IssuerOptions> = {}) => createIssuer({ issuer: ISSUER, fetch, clock, ...extra })

t.test('discovers, loads the keys and reports ready on the first attempt', async (t) => {
  const stub = provider([discoveryDocument()], [jwksDocument()])
  const seen = events()
  const issuer = issuerWith(stub.fetch, { onError: seen.onError, onReady: seen.onReady })
  t.equal(issuer.issuer, ISSUER)
  t.equal(issuer.isReady(), false)
  t.equal(issuer.metadata(), undefined)
  await issuer.start()
  t.equal(issuer.isReady(), true)
  t.same(issuer.metadata(), { issuer: ISSUER, jwks_uri: `${ISSUER}/keys` })
  t.same(seen.seen, [{ type: 'ready' }])
  t.same(stub.calls.map((call) => call.url), [`${ISSUER}/.well-known/openid-configuration`, `${ISSUER}/keys`])
  t.ok(await issuer.keys.keyFor(key.kid, 'RS256'), 'the keys come from the discovered jwks_uri')
  issuer.close()
})

t.test('works against a loopback Dex-shaped provider without callbacks', async (t) => {
  const op = await startTestIssuer({ path: '/dex' })
  t.teardown(() => op.close())
  const issuer = createIssuer({ issuer: op.issuer, fetch: (url, init) => fetch(url, init), clock })
  await issuer.start()
  t.equal(issuer.isReady(), true)
  t.equal(issuer.metadata()?.jwks_uri, op.jwksUri)
  t.equal(op.jwksRequests(), 1)
  issuer.close()
})

t.test('extra headers go to both discovery and the keys', async (t) => {
  const stub = provider([discoveryDocument()], [jwksDocument()])
  const issuer = issuerWith(stub.fetch, { headers: () => ({ authorization: 'Bearer sa-token' }) })
  await issuer.start()
  t.same(
    stub.calls.map((call) => call.headers?.authorization),
    ['Bearer sa-token', 'Bearer sa-token'],
  )
  issuer.close()
})

t.test('retries with exponential backoff capped at maxMs, discovering only once', async (t) => {
  await withMockTimers(async (timers) => {
    const stub = provider([status(503), status(503), discoveryDocument()], [status(502), jwksDocument()])
    const seen = events()
    const issuer = issuerWith(stub.fetch, { onError: seen.onError, onReady: seen.onReady, retry: { initialMs: 100, maxMs: 250 } })
    await issuer.start()
    t.same(seen.retries(), [100], 'the first attempt resolves start() even though it failed')
    t.equal(issuer.isReady(), false)

    timers.tick(99)
    t.equal(stub.calls.length, 1, 'no retry before the delay')
    let next = seen.next()
    timers.tick(1)
    await next
    t.same(seen.retries(), [100, 200], 'the delay doubles')

    next = seen.next()
    timers.tick(200)
    await next
    t.same(seen.retries(), [100, 200, 250], 'and is capped at maxMs')
    t.equal(issuer.metadata()?.issuer, ISSUER, 'discovery succeeded, the keys failed')

    next = seen.next()
    timers.tick(250)
    await next
    t.equal(seen.seen.at(-1)?.type, 'ready')
    t.equal(issuer.isReady(), true)
    t.equal(stub.discoveries(), 3, 'discovery is not repeated once it succeeded')
    t.equal(stub.jwksFetches(), 2)
    for (const event of seen.seen) {
      if (event.type === 'error') t.type(event.error, ProviderUnavailableError)
    }
    issuer.close()
  })
})

t.test('by default retries start at 1 s and are capped at 30 s', async (t) => {
  await withMockTimers(async (timers) => {
    const stub = provider([status(503)], [jwksDocument()])
    const seen = events()
    const issuer = issuerWith(stub.fetch, { onError: seen.onError })
    await issuer.start()
    for (const delay of [1_000, 2_000, 4_000, 8_000, 16_000, 30_000]) {
      const next = seen.next()
      timers.tick(delay)
      await next
    }
    t.same(seen.retries(), [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
    issuer.close()
  })
})

t.test('an unexpected error inside an attempt is reported as a ProviderUnavailableError keeping the original as cause, and retried', async (t) => {
  await withMockTimers(async (timers) => {
    const stub = provider([discoveryDocument()], [jwksDocument()])
    const seen = events()
    const bug = new TypeError('onReady failed')
    let readyCalls = 0
    const issuer = issuerWith(stub.fetch, {
      onError: seen.onError,
      onReady: () => {
        if (++readyCalls === 1) throw bug
        seen.onReady()
      },
      retry: { initialMs: 10, maxMs: 10 },
    })
    await issuer.start()
    const [event] = seen.seen
    t.equal(event?.type, 'error')
    const error = (event as { error: ProviderUnavailableError }).error
    t.type(error, ProviderUnavailableError)
    t.equal(error.code, 'ERR_PROVIDER_UNAVAILABLE')
    t.equal(error.cause, bug)
    const next = seen.next()
    timers.tick(10)
    await next
    t.equal(seen.seen.at(-1)?.type, 'ready', 'the retry succeeded')
    issuer.close()
  })
})

t.test('failures without an onError callback still retry', async (t) => {
  await withMockTimers(async (timers) => {
    const stub = provider([status(503), discoveryDocument()], [jwksDocument()])
    const seen = events()
    const issuer = issuerWith(stub.fetch, { onReady: seen.onReady, retry: { initialMs: 10, maxMs: 10 } })
    await issuer.start()
    const next = seen.next()
    timers.tick(10)
    await next
    t.equal(issuer.isReady(), true)
    issuer.close()
  })
})

t.test('close() cancels a scheduled retry', async (t) => {
  await withMockTimers(async (timers) => {
    const stub = provider([status(503)], [jwksDocument()])
    const seen = events()
    const issuer = issuerWith(stub.fetch, { onError: seen.onError, retry: { initialMs: 10, maxMs: 10 } })
    await issuer.start()
    t.equal(stub.calls.length, 1)
    issuer.close()
    timers.tick(1_000)
    await Promise.resolve()
    t.equal(stub.calls.length, 1, 'no attempt after close')
    t.same(seen.retries(), [10])
  })
})

t.test('an attempt that fails after close() reports nothing and schedules nothing', async (t) => {
  await withMockTimers(async (timers) => {
    let fail!: (error: unknown) => void
    const calls: string[] = []
    const fetch: Fetch = (url) => {
      calls.push(url)
      return new Promise((_resolve, reject) => (fail = reject))
    }
    const seen = events()
    const issuer = issuerWith(fetch, { onError: seen.onError, retry: { initialMs: 10, maxMs: 10 } })
    const started = issuer.start()
    issuer.close()
    fail(new Error('ECONNREFUSED'))
    await started
    timers.tick(1_000)
    await Promise.resolve()
    t.same(seen.seen, [], 'no error reported')
    t.equal(calls.length, 1, 'no retry scheduled')
    t.equal(issuer.isReady(), false)
  })
})

t.test('a fixed jwksUri (the Kubernetes API server\'s /openid/v1/jwks): no discovery, keys from there only', async (t) => {
  const stub = provider([discoveryDocument()], [jwksDocument()])
  const jwksUri = 'https://kubernetes.default.svc/openid/v1/jwks'
  const issuer = issuerWith(stub.fetch, { jwksUri, headers: () => ({ authorization: 'Bearer pod-token' }) })
  await issuer.start()
  t.equal(issuer.isReady(), true)
  t.same(stub.calls, [{ url: jwksUri, headers: { accept: 'application/json', authorization: 'Bearer pod-token' } }], 'never a discovery document')
  t.same(issuer.metadata(), { issuer: ISSUER, jwks_uri: jwksUri })
  issuer.close()
})
