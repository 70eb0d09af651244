/**
 * The composition root, in process: createService with a fake provider behind the injected fetch
 * (discovery, keys, token and revocation endpoints, for a key generated here), a clock that stands
 * still, and a cookie session store; driven through service.checkApp and service.opsApp with
 * inject(). What is proven is the wiring: readiness follows the provider's keys, tokens it signs
 * are allowed with the identity headers, sessions refresh and sign out at the endpoints discovery
 * found, the provider's failures and a bug are logged, and close() closes everything.
 */
import { mock } from 'node:test'
import t, { type Test } from 'tap'
import type { Config } from '../../src/config/types.js'
import { createLogger } from '../../src/log/logger.js'
import type { Fetch } from '../../src/oidc/fetch.js'
import { check, config, fakeProvider, ISSUER, KEY, NAVIGATION, NOW, serviceOf, signedIn, SUB } from '../helpers/service-harness.js'
import { createTestKey, signCompact, type TestKey } from '../helpers/test-issuer.js'

t.test('not ready before startIssuers, ready after: a token the provider signed is allowed with kubeflow-userid, junk is 401', async (t) => {
  const provider = fakeProvider()
  const { service, lines } = serviceOf(t, provider.fetch)
  const token = await provider.sign()

  t.equal(service.isReady(), false)
  t.equal((await service.opsApp.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
  const early = await check(service, '/notebook/', { authorization: `Bearer ${token}` })
  t.equal(early.statusCode, 401, 'before the keys are loaded, even a good token waits')
  t.equal(early.headers['retry-after'], '5')
  t.equal(provider.calls.length, 0, 'nothing fetched before startIssuers')

  await service.startIssuers()
  t.equal(service.isReady(), true)
  t.equal(service.primaryIssuer.issuer, ISSUER)
  t.equal((await service.opsApp.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.match(lines().filter((line) => line.component === 'issuer'), [{ level: 30, issuer: ISSUER, msg: 'identity provider discovered, keys loaded' }])

  const allowed = await check(service, '/notebook/', { authorization: `Bearer ${token}`, 'kubeflow-userid': 'attacker@example.com' })
  t.equal(allowed.statusCode, 200)
  t.equal(allowed.headers['kubeflow-userid'], 'alice@example.com')
  t.equal(allowed.headers['kubeflow-groups'], 'team-a')

  for (const [name, authorization] of [['junk', 'Bearer junk'], ['another key', `Bearer ${await signCompact({ alg: 'RS256', kid: 'k' }, provider.claims(), await createTestKey())}`]]) {
    const refused = await check(service, '/api/x', { authorization: authorization! })
    t.equal(refused.statusCode, 401, name)
    t.match(refused.headers['www-authenticate'], /error="invalid_token"/, name)
  }
  t.equal((await check(service, '/api/x')).statusCode, 401, 'no credential')

  t.match(await service.check({ method: 'GET', target: '/notebook/', headers: { authorization: `Bearer ${token}` } }), {
    decision: { outcome: 'allow', identity: { userId: 'alice@example.com' } },
  }, 'service.check: the pipeline alone decides the same')
})

t.test('a navigation without a session goes to OIDC_AUTH_URL once ready, to the discovered endpoint without one', async (t) => {
  const provider = fakeProvider()
  const kubeflow = serviceOf(t, provider.fetch).service
  const unavailable = await check(kubeflow, '/pipeline/', NAVIGATION)
  t.equal(unavailable.statusCode, 401, 'before discovery: no provider to send the browser to')
  t.equal(unavailable.headers['retry-after'], '5')
  await kubeflow.startIssuers()
  const login = await check(kubeflow, '/pipeline/', NAVIGATION)
  t.equal(login.statusCode, 302)
  t.match(login.headers.location, /^\/dex\/auth\?/, 'OIDC_AUTH_URL wins')

  const plain = serviceOf(t, provider.fetch, { config: { authUrl: undefined } }).service
  await plain.startIssuers()
  t.match((await check(plain, '/pipeline/', NAVIGATION)).headers.location, new RegExp(`^${ISSUER}/auth\\?`), 'the discovered authorization_endpoint')
})

t.test('a session near its ID token\'s expiry is refreshed at the discovered token endpoint, and the renewed cookie sent back', async (t) => {
  const provider = fakeProvider()
  const harness = serviceOf(t, provider.fetch)
  await harness.service.startIssuers()
  const { cookie } = await signedIn(harness, provider, NOW + 60_000)
  const refreshed = await provider.sign()
  provider.answerToken(async () => Response.json({ access_token: 'dex-access-token', id_token: refreshed, refresh_token: 'dex-refresh-token-2', token_type: 'bearer', expires_in: 600 }))

  const response = await check(harness.service, '/notebook/', { cookie, ...NAVIGATION })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['kubeflow-userid'], 'alice@example.com')
  t.match(response.headers['set-cookie'], /^authservice_session=/, 'the renewed session goes back to the browser')
  const [call] = provider.calls.filter((c) => c.url === `${ISSUER}/token`)
  t.match(call, { method: 'POST', body: /grant_type=refresh_token&refresh_token=dex-refresh-token/ })
})

t.test('a refresh the provider fails keeps the session for now, with a warning', async (t) => {
  const provider = fakeProvider()
  const harness = serviceOf(t, provider.fetch)
  await harness.service.startIssuers()
  const { cookie } = await signedIn(harness, provider, NOW + 60_000)
  provider.answerToken(async () => Response.json({ error: 'temporarily_unavailable' }, { status: 503 }))

  const response = await check(harness.service, '/notebook/', { cookie, ...NAVIGATION })
  t.equal(response.statusCode, 200, 'the ID token is still valid: the user goes on')
  t.equal(response.headers['set-cookie'], undefined, 'nothing renewed')
  t.match(harness.lines().filter((line) => line.level === 40), [{ msg: 'session refresh failed; keeping the session for now', err: { code: 'ERR_REFRESH_FAILED' } }])
})

t.test('signing out revokes the refresh token and ends the session at the discovered end_session_endpoint', async (t) => {
  const provider = fakeProvider()
  const harness = serviceOf(t, provider.fetch)
  await harness.service.startIssuers()
  const { session, cookie } = await signedIn(harness, provider, NOW + 600_000)

  const response = await check(harness.service, '/authservice/sign_out', { cookie, ...NAVIGATION, 'sec-fetch-site': 'same-origin' })
  t.equal(response.statusCode, 302)
  const location = new URL(response.headers.location as string)
  t.equal(`${location.origin}${location.pathname}`, `${ISSUER}/logout`)
  t.equal(location.searchParams.get('id_token_hint'), session.idToken)
  t.match(provider.calls.filter((c) => c.url === `${ISSUER}/revoke`), [{ method: 'POST', body: /token=dex-refresh-token/ }])
})

/** Lets the background work run (every step of an attempt is I/O or a promise, no timer) until `done`. */
async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1_000 && !done(); turn++) await new Promise((resolve) => setImmediate(resolve))
}

/** A service whose provider does not answer, started with the issuers' retry timer mocked (reset with `t`). */
async function startedWhileDown(t: Test) {
  const provider = fakeProvider()
  provider.setDown(true)
  const harness = serviceOf(t, provider.fetch)
  mock.timers.enable({ apis: ['setTimeout'] })
  t.teardown(() => mock.timers.reset())
  await harness.service.startIssuers()
  return { provider, ...harness }
}

t.test('a provider that does not answer: a warning per attempt, retried in the background on the issuer\'s timer', async (t) => {
  const { provider, service, lines } = await startedWhileDown(t)
  t.equal(service.isReady(), false)
  t.match(lines(), [{ level: 40, component: 'issuer', issuer: ISSUER, retryInMs: 1_000, err: { code: 'ERR_PROVIDER_UNAVAILABLE' }, msg: 'identity provider not reachable yet; retrying' }])
  const attempts = provider.calls.length
  provider.setDown(false)
  mock.timers.tick(999)
  await until(() => provider.calls.length > attempts)
  t.equal(provider.calls.length, attempts, 'not before the backoff')
  mock.timers.tick(1)
  await until(() => service.isReady())
  t.equal(service.isReady(), true, 'ready after the retry')
})

t.test('close() stops the retries and closes both apps and the session store', async (t) => {
  const { provider, service, store } = await startedWhileDown(t)
  const attempts = provider.calls.length
  await service.close()
  mock.timers.tick(60_000)
  await until(() => provider.calls.length > attempts)
  t.equal(provider.calls.length, attempts, 'no attempt after close()')
  t.ok(store.closed, 'the session store is closed')
  await t.rejects(service.checkApp.inject({ method: 'GET', url: '/' }), 'the check app is closed')
  await t.rejects(service.opsApp.inject({ method: 'GET', url: '/healthz' }), 'the ops app is closed')
})

t.test('without an injected store, SESSION_STORE_TYPE picks it (cookie by default)', async (t) => {
  const { service } = serviceOf(t, fakeProvider().fetch, { injectStore: false })
  t.equal(service.sessionStore.kind, 'cookie')
})

t.test('a failure while verifying that is not a verdict on the token (a bug) is logged as an error and denied', async (t) => {
  const provider = fakeProvider()
  let broken = false
  const { service, lines } = serviceOf(t, provider.fetch, {
    now: () => {
      if (broken) throw new Error('clock unavailable')
      return NOW
    },
  })
  await service.startIssuers()
  const token = await provider.sign()
  broken = true
  const response = await check(service, '/api/x', { authorization: `Bearer ${token}` })
  t.equal(response.statusCode, 401)
  t.match(lines().filter((line) => line.level === 50), [{ msg: 'unexpected error while verifying a credential', err: { message: 'clock unavailable' } }])
})

const OTHER_ISSUER = 'https://tokens.example.com'
const CI_ISSUER = 'https://ci.example.com'
const RULES = { useridClaim: 'sub', emailDomains: 'apply' } as const
const EXTRA_ISSUERS: Partial<Config> = {
  extraIssuers: [
    { issuer: OTHER_ISSUER, audience: '', rules: RULES },
    { issuer: CI_ISSUER, audience: 'ci-audience', rules: RULES },
  ],
  audiences: ['authservice'],
}

t.test('EXTRA_JWT_ISSUERS: each issuer with its audience (a bare one takes AUDIENCES); none is asked with the pod\'s token', async (t) => {
  const provider = fakeProvider([ISSUER, OTHER_ISSUER, CI_ISSUER])
  const { service } = serviceOf(t, provider.fetch, { config: EXTRA_ISSUERS, kubernetes: { token: () => 'pod-token', ca: undefined } })
  await service.startIssuers()
  const asked = (issuer: string) => provider.calls.filter((c) => c.url.startsWith(issuer)).map((c) => c.headers.authorization)
  t.same(asked(OTHER_ISSUER), [undefined, undefined], 'discovery and keys, without the service-account token')
  t.same(asked(CI_ISSUER), [undefined, undefined])

  for (const [name, iss, aud, status] of [
    ['a bare issuer\'s token for AUDIENCES', OTHER_ISSUER, 'authservice', 200],
    ['a bare issuer\'s token for another audience', OTHER_ISSUER, 'ci-audience', 401],
    ['a CI token for its own audience', CI_ISSUER, 'ci-audience', 200],
    ['a CI token for AUDIENCES', CI_ISSUER, 'authservice', 401],
  ] as const) {
    const response = await check(service, '/api/x', { authorization: `Bearer ${await provider.sign({ iss, aud })}` })
    t.equal(response.statusCode, status, name)
    if (status === 200) t.equal(response.headers['kubeflow-userid'], SUB, `${name}: the user id is its sub (EXTRA_JWT_ISSUER_RULES default)`)
  }
})

t.test('CA_BUNDLE, and the cluster CA for the API server\'s keys: the provider is reached through a fetch trusting them', async (t) => {
  const provider = fakeProvider([ISSUER])
  const CLUSTER_KEYS = 'https://kubernetes.default.svc/openid/v1/jwks'
  const trusted: Array<{ ca: string; url: string }> = []
  const { createService: createMockedService } = await t.mockImport<typeof import('../../src/service.js')>('../../src/service.js', {
    '../../src/oidc/fetch.js': {
      createFetchWithCa: (ca: string): Fetch => async (url, init) => {
        trusted.push({ ca, url })
        return url === CLUSTER_KEYS ? Response.json({ keys: [KEY.publicJwk] }) : provider.fetch(url, init)
      },
    },
  })
  const injected: Fetch = async (url) => t.fail(`the injected fetch was used for ${url}`) as never
  const kubernetesTokens = { issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['gateway'], maxLifetimeSeconds: 86400, tokenReview: false, reviewCacheSeconds: 10, legacy: false }
  const cases = [
    ['CA_BUNDLE', { caBundle: 'BUNDLE-PEM' }, undefined, ['BUNDLE-PEM', 'BUNDLE-PEM']],
    ['cluster CA', { kubernetesTokens }, { token: () => 'pod-token', ca: 'CLUSTER-CA' }, ['CLUSTER-CA']],
  ] as const
  for (const [name, overrides, kubernetes, expected] of cases) {
    trusted.length = 0
    const service = createMockedService(config(overrides), {
      logger: createLogger('silent'),
      clock: { now: () => NOW },
      fetch: name === 'CA_BUNDLE' ? injected : provider.fetch,
      ...(kubernetes ? { kubernetes } : {}),
    })
    t.teardown(() => service.close())
    await service.startIssuers()
    t.same(trusted.map((call) => call.ca), expected, `${name}: discovery and keys (the cluster's keys only: no discovery)`)
    t.ok(service.isReady(), `${name}: ready`)
  }
})

t.test('a provider that re-keys under a kid in use: tokens of the old key leave the cache at once, counted and logged', async (t) => {
  const provider = fakeProvider()
  const second = await createTestKey()
  provider.publish(KEY, second)
  let now = NOW
  const { service, lines } = serviceOf(t, provider.fetch, { now: () => now })
  await service.startIssuers()
  const bearer = async (key: TestKey) => check(service, '/api/x', { authorization: `Bearer ${await provider.sign({}, key)}` })
  const [oldToken, secondToken] = [await provider.sign(), await provider.sign({}, second)]
  const ask = (token: string) => check(service, '/api/x', { authorization: `Bearer ${token}` })
  t.equal((await ask(oldToken)).statusCode, 200, 'verified, and now cached')
  t.equal((await ask(secondToken)).statusCode, 200)

  // The provider replaces the key under KEY's kid and withdraws the second one.
  const replacement = await createTestKey('RS256', KEY.kid)
  provider.publish(replacement)
  now += 10_000 // past the key set's refetch limit
  const keyFetches = () => provider.calls.filter((call) => call.url === `${ISSUER}/keys`).length
  t.equal((await bearer(replacement)).statusCode, 401, 'the first token of the new key: refused, and the keys fetched again (a bearer check never waits for it)')
  await until(() => keyFetches() === 2 && lines().some((line) => line.kid !== undefined))
  t.equal((await bearer(replacement)).statusCode, 200, 'the next one is allowed')
  t.equal((await ask(oldToken)).statusCode, 401, 'the old key\'s token, cached as valid before, is refused')
  t.equal((await ask(secondToken)).statusCode, 401, 'so is the withdrawn key\'s')
  t.match(lines().filter((line) => line.component === 'issuer' && line.kid !== undefined), [
    { level: 30, issuer: ISSUER, kid: KEY.kid, msg: /^signing key replaced under the same kid/ },
  ], 'one line, for the replaced key')
  const metrics = await service.metrics.registry.metrics()
  t.match(metrics, new RegExp(`^authservice_jwks_key_changes_total\\{issuer="${ISSUER}"\\} 1$`, 'm'))
  t.match(metrics, new RegExp(`^authservice_jwks_refreshes_total\\{issuer="${ISSUER}",result="ok"\\} 2$`, 'm'))
})

t.test('KUBERNETES_TOKENS: keys from the API server\'s /openid/v1/jwks and a TokenReview, both with the pod\'s token; readiness on Dex alone', async (t) => {
  const CLUSTER = 'https://kubernetes.default.svc.cluster.local'
  const SA = 'system:serviceaccount:kubeflow-user-example-com:default-editor'
  const provider = fakeProvider()
  const reviews: string[] = []
  const fetch: Fetch = async (url, init = {}) => {
    if (url === 'https://kubernetes.default.svc/openid/v1/jwks') {
      reviews.push(`jwks ${init.headers?.authorization}`)
      return Response.json({ keys: [KEY.publicJwk] })
    }
    if (url === 'https://kubernetes.default.svc/apis/authentication.k8s.io/v1/tokenreviews') {
      reviews.push(`review ${init.headers?.authorization}`)
      return Response.json({ status: { authenticated: true, user: { username: SA, groups: ['system:serviceaccounts'] } } }, { status: 201 })
    }
    return provider.fetch(url, init)
  }
  const kubernetesTokens = { issuer: CLUSTER, audiences: ['gateway'], maxLifetimeSeconds: 86400, tokenReview: true, reviewCacheSeconds: 10, legacy: true }
  const bound = () => provider.sign({ iss: CLUSTER, sub: SA, aud: 'gateway', email: undefined, email_verified: undefined, groups: undefined })
  const legacy = () => signCompact({ alg: 'RS256', kid: KEY.kid }, { iss: 'kubernetes/serviceaccount', sub: SA }, KEY)

  const { service } = serviceOf(t, fetch, { config: { kubernetesTokens }, kubernetes: { token: () => 'pod-token', ca: undefined } })
  await service.startIssuers()
  t.ok(service.isReady())
  for (const [name, token] of [['a bound token', await bound()], ['a legacy token', await legacy()]] as const) {
    const response = await check(service, '/pipeline/apis/v2beta1/runs', { authorization: `Bearer ${token}` })
    t.equal(response.statusCode, 200, name)
    t.equal(response.headers['kubeflow-userid'], SA, `${name}: the review's username`)
  }
  t.same(reviews, ['jwks Bearer pod-token', 'review Bearer pod-token', 'review Bearer pod-token'])

  await t.test('KUBERNETES_TOKENREVIEW=false: no review', async (t) => {
    reviews.length = 0
    const { service } = serviceOf(t, fetch, { config: { kubernetesTokens: { ...kubernetesTokens, tokenReview: false, legacy: false } }, kubernetes: { token: () => undefined, ca: undefined } })
    await service.startIssuers()
    t.equal((await check(service, '/api/x', { authorization: `Bearer ${await bound()}` })).statusCode, 200)
    t.same(reviews, ['jwks undefined'], 'the keys only (no pod token written yet)')
  })

  await t.test('not in a cluster: a warning, and service-account tokens are "unavailable"', async (t) => {
    const { service, lines } = serviceOf(t, provider.fetch, { config: { kubernetesTokens } })
    await service.startIssuers()
    t.ok(service.isReady(), 'ready all the same')
    const response = await check(service, '/api/x', { authorization: `Bearer ${await bound()}` })
    t.equal(response.statusCode, 401)
    t.ok(response.headers['retry-after'], 'unavailable, with Retry-After')
    t.ok(lines().some((line) => String(line.msg).startsWith('KUBERNETES_TOKENS: not running in a cluster')))
  })
})

t.test('the user page through the service: the page and userinfo (203) for a session, 401 or a login without one, the token for a page of this site', async (t) => {
  const provider = fakeProvider()
  const harness = serviceOf(t, provider.fetch, { config: { userPageApiToken: true } })
  await harness.service.startIssuers()
  const { session, cookie } = await signedIn(harness, provider, NOW + 600_000)

  const page = await check(harness.service, '/authservice/me', { cookie, ...NAVIGATION })
  t.equal(page.statusCode, 203)
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8')
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
  t.match(page.body, /<dd id="user">alice@example.com<\/dd>/)
  t.match(page.body, new RegExp(`<dd id="expires">${new Date(session.expiresAt).toISOString().slice(0, 16).replace('T', ' ')} UTC</dd>`), "the session's end")
  t.notMatch(page.body, new RegExp(session.idToken.split('.')[2]!), 'the token is not in the page')

  const userinfo = await check(harness.service, '/authservice/userinfo', { cookie, accept: 'application/json' })
  t.equal(userinfo.statusCode, 203)
  t.same(userinfo.json(), { user: 'alice@example.com', email: 'alice@example.com', groups: ['team-a'] })
  const bearer = await check(harness.service, '/authservice/userinfo', { authorization: `Bearer ${await provider.sign({ preferred_username: 'alice' })}` })
  t.same(bearer.json(), { user: 'alice@example.com', email: 'alice@example.com', groups: ['team-a'], preferredUsername: 'alice' }, 'a bearer token: the same, with preferredUsername')

  const anonymous = await check(harness.service, '/authservice/userinfo', { accept: 'application/json' })
  t.equal(anonymous.statusCode, 401, "no session: the check's API 401")
  t.equal((await check(harness.service, '/authservice/me', NAVIGATION)).statusCode, 302, 'a browser without a session: the login')

  const token = (headers: Record<string, string>) =>
    harness.service.checkApp.inject({ method: 'POST', url: '/authservice/me/token', headers: { host: 'kubeflow.example.com', cookie, ...headers } })
  const handed = await token({ 'x-requested-with': 'authservice', origin: 'https://kubeflow.example.com' })
  t.equal(handed.statusCode, 203)
  t.equal(handed.headers['cache-control'], 'no-store')
  t.same(handed.json(), { token: session.idToken, expiresAt: NOW + 600_000 }, "the session's current ID token and its end")
  t.equal((await token({ 'x-requested-with': 'authservice', origin: 'https://evil.example' })).statusCode, 403, 'another origin')
  t.equal((await token({ 'sec-fetch-site': 'same-origin' })).statusCode, 403, 'no custom header')
  t.notMatch(JSON.stringify(harness.lines()), new RegExp(session.idToken.split('.')[2]!), 'the token is never logged')

  const off = serviceOf(t, provider.fetch)
  await off.service.startIssuers()
  t.equal((await off.service.checkApp.inject({ method: 'POST', url: '/authservice/me/token', headers: { cookie, 'sec-fetch-site': 'same-origin', 'x-requested-with': 'x' } })).statusCode, 404, 'USER_PAGE_API_TOKEN off: 404')
})
