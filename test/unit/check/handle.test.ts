/**
 * One check end to end, transport-free: the service's own endpoints or the decision, turned into a
 * reply, with one decision log line and the metrics. The check and the login handlers are stubs;
 * the endpoint matcher, the reply builder and the logger are the real ones.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { Registry } from 'prom-client'
import type { CheckRequest, CheckResult } from '../../../src/check/pipeline.js'
import type { Decision } from '../../../src/check/decision.js'
import { createHandler, createReplayer } from '../../../src/check/handle.js'
import type { CheckOptions } from '../../../src/check/pipeline.js'
import { createResponder, type HeaderList } from '../../../src/check/respond.js'
import type { Config } from '../../../src/config/types.js'
import { kubeflowConfig } from '../../fixtures/config.js'
import { createLogger } from '../../../src/log/logger.js'
import { createEndpointMatcher } from '../../../src/check/endpoints.js'
import type { FlowRequest, LoginAnswer, LoginHandlers, LoginResult } from '../../../src/login/handlers.js'
import type { Metrics } from '../../../src/ops/metrics.js'

const NOW = 1_750_000_000_000

/** Kubeflow's settings, as the loader makes them, plus what these tests rely on. */
const config = (overrides: Partial<Config> = {}): Config => kubeflowConfig({ scopes: ['openid', 'email', 'groups'], ...overrides })

const ALICE = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token.SECRET' }
const ALLOW: Decision = { outcome: 'allow', kind: 'navigation', reason: 'CREDENTIAL_VALID', identity: ALICE, via: 'session-cookie' }
const LOGIN: Decision = { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: ['ERR_REFRESH_REJECTED'] }

/** What a stub login handler answers, recognisable by the status it is answered with. */
const stubAnswer = (status: 201 | 302 | 401): LoginAnswer =>
  status === 302 ? { kind: 'redirect', location: '/stub', cookies: [] } : status === 201 ? { kind: 'logged-out', afterLogoutUrl: '/', cookies: [] } : { kind: 'signed-out' }

function harness(options: { config?: Partial<Config>; result?: Partial<CheckResult>; logLevel?: string } = {}) {
  const cfg = config(options.config)
  const checks: CheckRequest[] = []
  const checkOptions: Array<CheckOptions | undefined> = []
  const calls: Array<{ handler: string; request?: FlowRequest; cookies?: readonly string[] }> = []
  const observed: Array<{ outcome: string; reason: string; seconds: number }> = []
  let raw = ''
  const logger = createLogger(options.logLevel ?? 'info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((raw += chunk.toString()), done()) }))
  const login: LoginHandlers = {
    async start(request, extraCookies = []) {
      calls.push({ handler: 'start', request, cookies: extraCookies })
      return { answer: stubAnswer(302), outcome: 'login', reason: 'LOGIN_REQUIRED' }
    },
    async callback(request) {
      calls.push({ handler: 'callback', request })
      return { answer: stubAnswer(302), outcome: 'login-complete', reason: 'LOGIN_COMPLETE', user: 'alice@example.com' } satisfies LoginResult
    },
    async logout(request) {
      calls.push({ handler: 'logout', request })
      return { answer: stubAnswer(201), outcome: 'logout', reason: 'LOGOUT' }
    },
    async signOut(request) {
      calls.push({ handler: 'signOut', request })
      return { answer: stubAnswer(302), outcome: 'logout', reason: 'SIGN_OUT' }
    },
    afterLogout() {
      calls.push({ handler: 'afterLogout' })
      return { answer: stubAnswer(401), outcome: 'after-logout', reason: 'AFTER_LOGOUT' }
    },
  }
  const metrics: Metrics = {
    registry: new Registry(),
    observeDecision: (decision, seconds) => observed.push({ outcome: decision.outcome, reason: decision.reason, seconds }),
  }
  const answering = {
    config: cfg,
    check: async (request: CheckRequest, run?: CheckOptions) => {
      checks.push(request)
      checkOptions.push(run)
      return { decision: ALLOW, path: '/jupyter/', ...options.result }
    },
    respond: createResponder({ userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', setAuthorizationHeader: false, setXAuthRequest: false, retryAfterSeconds: 5 }),
    endpoints: createEndpointMatcher(cfg),
    login,
    clock: { now: () => NOW },
  }
  const handle = createHandler({ ...answering, metrics, logger })
  const replay = createReplayer(answering)
  const lines = () => raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>)
  return { handle, replay, checks, checkOptions, calls, observed, lines, raw: () => raw }
}

function header(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value)
}

const get = (target: string, headers: CheckRequest['headers'] = {}): CheckRequest => ({ method: 'GET', target, headers })

t.test('the service\'s own endpoints are answered by the login handlers, never by the check', async (t) => {
  const cases: [name: string, request: CheckRequest, handler: string, status: number, outcome: string][] = [
    ['the OIDC callback', get('/authservice/oidc/callback?code=c&state=s'), 'callback', 302, 'login-complete'],
    ['logout', { method: 'POST', target: '/authservice/logout', headers: {} }, 'logout', 201, 'logout'],
    ['sign-out', get('/authservice/sign_out?rd=%2F'), 'signOut', 302, 'logout'],
    ['the after-logout page', get('/authservice/site/after_logout'), 'afterLogout', 401, 'after-logout'],
    ["the 1.9.0 dashboard's POST to sign_out", { method: 'POST', target: '/authservice/sign_out', headers: {} }, 'logout', 201, 'logout'],
    ['a navigation to logout', get('/authservice/logout'), 'signOut', 302, 'logout'],
    ["oauth2-proxy's login entry", get('/authservice/start?rd=%2Fpipeline%2F'), 'start', 302, 'login'],
  ]
  for (const [name, request, handler, status, outcome] of cases) {
    const h = harness()
    const handled = await h.handle(request)
    t.same(h.calls.map((call) => call.handler), [handler], `${name}: routed to ${handler}`)
    t.same(h.checks, [], `${name}: the check is not consulted`)
    t.equal(handled.reply.kind === 'deny' && handled.reply.status, status, `${name}: the handler's reply`)
    t.equal(handled.outcome, outcome, name)
  }
})

t.test('the handlers get the query, the parsed cookies and the scheme the client used', async (t) => {
  const h = harness()
  await h.handle(get('/authservice/oidc/callback?code=c&state=s', { cookie: 'a=1; authservice_flow_abc=sealed', 'x-forwarded-proto': 'https' }))
  const request = h.calls[0]!.request!
  t.same(
    { ...request, cookies: { ...request.cookies } },
    {
      method: 'GET',
      target: '/authservice/oidc/callback?code=c&state=s',
      query: 'code=c&state=s',
      headers: { cookie: 'a=1; authservice_flow_abc=sealed', 'x-forwarded-proto': 'https' },
      cookies: { a: '1', authservice_flow_abc: 'sealed' },
      scheme: 'https',
    },
  )
})

t.test('the login entry starts a login back to rd, whatever else the path holds', async (t) => {
  const h = harness()
  await h.handle(get('/authservice/start?rd=%2Fpipeline%2F%23%2Fruns'))
  await h.handle(get('/authservice/start'))
  t.same(h.calls.map((call) => call.request!.target), ['/pipeline/#/runs', '/'], 'rd, or the start page without one')
  t.same(h.checks, [], 'no check')
})

t.test('gRPC\'s scheme wins over a client-influenced x-forwarded-proto', async (t) => {
  const h = harness()
  await h.handle({ ...get('/authservice/sign_out', { 'x-forwarded-proto': 'http' }), scheme: 'https' })
  t.equal(h.calls[0]!.request!.scheme, 'https')
})

t.test('every other request goes to the check with the cookies parsed once', async (t) => {
  const h = harness()
  const handled = await h.handle(get('/jupyter/', { cookie: 'authservice_session=tk' }))
  t.equal(h.checks.length, 1)
  t.same({ ...h.checks[0]!.cookies }, { authservice_session: 'tk' })
  t.same(h.calls, [], 'no login handler')
  t.equal(handled.reply.kind, 'allow')
  t.same([handled.outcome, handled.reason], ['allow', 'CREDENTIAL_VALID'])
})

t.test('a navigation that needs a login gets the login start\'s redirect', async (t) => {
  const h = harness({ result: { decision: LOGIN, path: '/jupyter/' } })
  const handled = await h.handle(get('/jupyter/?ns=x', { 'x-forwarded-proto': 'https' }))
  t.same(h.calls.map((call) => call.handler), ['start'])
  t.equal(h.calls[0]!.request!.target, '/jupyter/?ns=x', 'the page to come back to')
  t.same(h.calls[0]!.cookies, [], 'nothing to clear when no session ended')
  t.equal(handled.reply.kind === 'deny' && handled.reply.status, 302)
  t.same([handled.outcome, handled.reason], ['login', 'LOGIN_REQUIRED'])
})

t.test('when the presented session has ended, the login start also clears the session cookies', async (t) => {
  const h = harness({ result: { decision: LOGIN, path: '/jupyter/', sessionEnded: true } })
  await h.handle(get('/jupyter/', { cookie: 'authservice_session.1=a; authservice_session.2=b', 'x-forwarded-proto': 'https' }))
  const cleared = h.calls[0]!.cookies!
  t.same(
    cleared.map((cookie) => cookie.slice(0, cookie.indexOf('='))),
    ['authservice_session', 'authservice_session.1', 'authservice_session.2'],
  )
  t.ok(cleared.every((cookie) => cookie.includes('Max-Age=0') && cookie.includes('; Secure')), 'expired at once, Secure over https')
})

t.test('a renewed session ticket is set as the session cookie for the rest of the session\'s life', async (t) => {
  const h = harness({ result: { decision: ALLOW, path: '/jupyter/', renewedTicket: 'renewed-ticket', renewedExpiresAt: NOW + 3_600_999 } })
  const handled = await h.handle(get('/jupyter/', { cookie: 'authservice_session=old-ticket', 'x-forwarded-proto': 'http' }))
  if (handled.reply.kind !== 'allow') throw new Error('expected an allow')
  t.same(header(handled.reply.responseHeaders, 'set-cookie'), ['authservice_session=renewed-ticket; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax'])
  t.same(header(handled.reply.upstreamHeaders, 'kubeflow-userid'), ['alice@example.com'])
})

t.test('a renewed ticket too large for cookies is not sent back; the request is still allowed and the problem logged', async (t) => {
  const h = harness({ result: { decision: ALLOW, path: '/jupyter/', renewedTicket: 'x'.repeat(40_000), renewedExpiresAt: NOW + 60_000 } })
  const handled = await h.handle(get('/jupyter/', { cookie: 'authservice_session=old-ticket' }))
  t.equal(handled.reply.kind, 'allow')
  t.same(handled.reply.kind === 'allow' && handled.reply.responseHeaders, [], 'no cookie the browser could not read back')
  t.ok(h.lines().some((line) => line.msg === 'renewed session not sent back'))
})

t.test('an allow without a renewal sets no cookie', async (t) => {
  const h = harness()
  const handled = await h.handle(get('/jupyter/', { cookie: 'authservice_session=tk' }))
  t.same(handled.reply.kind === 'allow' && handled.reply.responseHeaders, [])
})

t.test('one decision log line per check, without tokens, cookies or the query', async (t) => {
  const h = harness({ result: { decision: ALLOW, path: '/jupyter/' } })
  await h.handle(
    get('/jupyter/?token=QUERY-SECRET', { authorization: 'Bearer BEARER-SECRET', cookie: 'authservice_session=COOKIE-SECRET' }),
  )
  const lines = h.lines()
  t.equal(lines.length, 1)
  const line = lines[0]!
  t.match(line, { msg: 'decision', outcome: 'allow', reason: 'CREDENTIAL_VALID', user: 'alice@example.com', method: 'GET', path: '/jupyter/' })
  t.type(line.ms, 'number')
  t.notOk('codes' in line, 'no empty codes list')
  for (const secret of ['QUERY-SECRET', 'BEARER-SECRET', 'COOKIE-SECRET', 'dex.id.token.SECRET']) t.notMatch(h.raw(), secret, `${secret} is never logged`)
})

t.test('the log line names the refused codes, and no user when there is none', async (t) => {
  const h = harness({ result: { decision: LOGIN, path: '/jupyter/' } })
  await h.handle(get('/jupyter/'))
  const [line] = h.lines()
  t.same(line!.codes, ['ERR_REFRESH_REJECTED'])
  t.notOk('user' in line!)
  t.same([line!.outcome, line!.reason], ['login', 'LOGIN_REQUIRED'])
})

t.test('LOG_ALLOW_DECISIONS=1-in-N writes the first allow and every N-th after it, marked sampled; metrics count them all', async (t) => {
  const h = harness({ config: { logAllowDecisions: { mode: 'sample', every: 3 } } })
  for (let i = 0; i < 7; i++) await h.handle(get(`/jupyter/${i}`))
  t.same(
    h.lines().map((line) => [line.outcome, line.path, line.sampled]),
    [['allow', '/jupyter/', 3], ['allow', '/jupyter/', 3], ['allow', '/jupyter/', 3]],
    'allows 1, 4 and 7 of 7',
  )
  t.equal(h.observed.length, 7, 'every allow is still counted')
})

t.test('LOG_ALLOW_DECISIONS never thins out what is not an allow: every login redirect is written', async (t) => {
  const h = harness({ config: { logAllowDecisions: { mode: 'sample', every: 3 } }, result: { decision: LOGIN, path: '/' } })
  for (let i = 0; i < 4; i++) await h.handle(get('/'))
  t.same(h.lines().map((line) => [line.outcome, 'sampled' in line]), Array(4).fill(['login', false]))
})

t.test('LOG_ALLOW_DECISIONS=debug writes allows at debug level only', async (t) => {
  const quiet = harness({ config: { logAllowDecisions: { mode: 'debug' } } })
  await quiet.handle(get('/jupyter/'))
  t.same(quiet.lines(), [], 'nothing at LOG_LEVEL=info')
  const verbose = harness({ config: { logAllowDecisions: { mode: 'debug' } }, logLevel: 'debug' })
  await verbose.handle(get('/jupyter/'))
  t.match(verbose.lines(), [{ level: 20, msg: 'decision', outcome: 'allow' }], 'at LOG_LEVEL=debug, a debug line')
})

t.test('an endpoint\'s log line has its outcome, its user and the path without the OAuth code', async (t) => {
  const h = harness()
  await h.handle(get('/authservice/oidc/callback?code=OAUTH-CODE-SECRET&state=STATE-SECRET'))
  const [line] = h.lines()
  t.match(line, { outcome: 'login-complete', reason: 'LOGIN_COMPLETE', user: 'alice@example.com', path: '/authservice/oidc/callback' })
  t.notMatch(h.raw(), 'OAUTH-CODE-SECRET')
  t.notMatch(h.raw(), 'STATE-SECRET')
})

t.test('every answered check is counted in the metrics by outcome and reason, with its duration', async (t) => {
  const h = harness({ result: { decision: LOGIN, path: '/' } })
  await h.handle(get('/'))
  await h.handle(get('/authservice/site/after_logout'))
  t.same(
    h.observed.map(({ outcome, reason }) => [outcome, reason]),
    [
      ['login', 'LOGIN_REQUIRED'],
      ['after-logout', 'AFTER_LOGOUT'],
    ],
  )
  t.ok(h.observed.every(({ seconds }) => seconds >= 0 && seconds < 5), 'durations in seconds')
})

t.test('with CHECK_PATH_PREFIX (Envoy path_prefix), the callback is still answered by the login handler', async (t) => {
  const h = harness({ config: { checkPathPrefix: '/ext-authz' } })
  await h.handle(get('/ext-authz/authservice/oidc/callback?code=c&state=s'))
  t.same(h.calls.map((call) => call.handler), ['callback'])
  t.same(h.checks, [])
})

t.test('the decision line identifies the request without its secrets: request kind, credential source and fingerprint', async (t) => {
  const h = harness({ result: { decision: ALLOW, path: '/jupyter/', presented: { source: 'session-cookie', fingerprint: '0a1b2c3d' } } })
  await h.handle(get('/jupyter/', { cookie: 'authservice_session=tk' }))
  t.match(h.lines().find((line) => line.msg === 'decision'), { kind: 'navigation', source: 'session-cookie', credential: '0a1b2c3d' })
  t.notMatch(h.raw(), 'tk', 'never the credential')
  t.same(h.checkOptions, [{ dryRun: false, trace: false }], 'the service checks with side effects, without a trace')
})

t.test('a replay (explain) runs the dry run with its trace, answers as handle does, and logs and counts nothing', async (t) => {
  const h = harness()
  const replayed = await h.replay(get('/jupyter/', { cookie: 'authservice_session=tk' }))
  t.same(h.checkOptions, [{ dryRun: true, trace: true }], 'the dry run, traced')
  t.match(replayed, { verdict: ALLOW, result: { decision: ALLOW }, reply: { kind: 'allow', upstreamHeaders: [['kubeflow-userid', 'alice@example.com'], ['kubeflow-groups', 'team-a']] } })
  t.same(h.observed, [], 'not counted')
  t.equal(h.raw(), '', 'not logged')

  const endpoint = await h.replay({ method: 'POST', target: '/authservice/logout', headers: {} })
  t.same(endpoint, { endpoint: 'logout', path: '/authservice/logout' }, "the service's own endpoint is named")
  t.same(h.calls, [], 'and not run (a logout would end a session)')

  const login = harness({ result: { decision: LOGIN, path: '/jupyter/' } })
  const started = await login.replay(get('/jupyter/'))
  t.match(started, { verdict: { outcome: 'login', codes: ['ERR_REFRESH_REJECTED'] }, reply: { kind: 'deny', status: 302 } }, 'a login start is replayed (it changes nothing)')

  const tooLarge = harness({ result: { decision: ALLOW, path: '/jupyter/', renewedTicket: 'x'.repeat(40_000), renewedExpiresAt: NOW + 60_000 } })
  t.match(await tooLarge.replay(get('/jupyter/')), { reply: { kind: 'allow', responseHeaders: [] } }, 'a renewed ticket that cannot be sent back: allowed all the same')
  t.equal(tooLarge.raw(), '', 'and nothing logged')
})

t.test('the user page: the check decides first; an allowed request gets the page (203), anything else the check\'s answer', async (t) => {
  const me = get('/authservice/me', { accept: 'text/html', cookie: 'authservice_session=tk' })
  const allowed = harness({ result: { decision: ALLOW, path: '/authservice/me', renewedTicket: 'renewed-ticket', renewedExpiresAt: NOW + 60_000 } })
  const page = await allowed.handle(me)
  t.equal(allowed.checks.length, 1, 'the check authenticated the request')
  t.equal(page.reply.kind === 'deny' && page.reply.status, 203, 'a 203: the browser sees a page, Envoy forwards nothing')
  t.match(page.reply.kind === 'deny' && page.reply.body, /<dd id="user">alice@example.com<\/dd>/)
  t.same(page.reply.kind === 'deny' && header(page.reply.headers, 'set-cookie'), ['authservice_session=renewed-ticket; Max-Age=60; Path=/; HttpOnly; SameSite=Lax'], 'with the renewed session')
  t.match(allowed.lines(), [{ msg: 'decision', outcome: 'user-page', reason: 'USER_INFO', user: 'alice@example.com', path: '/authservice/me' }])
  t.notMatch(allowed.raw(), /dex\.id\.token/, 'no token in the log')

  const tooLarge = harness({ result: { decision: ALLOW, path: '/authservice/me', renewedTicket: 'x'.repeat(40_000), renewedExpiresAt: NOW + 60_000 } })
  const without = await tooLarge.handle(me)
  t.equal(without.reply.kind === 'deny' && without.reply.status, 203, 'a renewal too large for cookies: the page all the same')

  const anonymous = harness({ result: { decision: LOGIN, path: '/authservice/me' } })
  const redirected = await anonymous.handle(me)
  t.same(anonymous.calls.map((call) => call.handler), ['start'], 'no session: the normal login')
  t.equal(redirected.reply.kind === 'deny' && redirected.reply.status, 302)
})

t.test('the token endpoint: refused before the check when off (404) or cross-site (403); the token for a page of this site', async (t) => {
  const post = (headers: CheckRequest['headers']): CheckRequest => ({ method: 'POST', target: '/authservice/me/token', headers })
  const sameOrigin = { 'x-requested-with': 'authservice', 'sec-fetch-site': 'same-origin' }
  const off = harness()
  const disabled = await off.handle(post(sameOrigin))
  t.equal(disabled.reply.kind === 'deny' && disabled.reply.status, 404)
  t.same(off.checks, [], 'off: no credential looked at')
  const on = harness({ config: { userPageApiToken: true } })
  const cross = await on.handle(post({ 'x-requested-with': 'authservice', 'sec-fetch-site': 'cross-site' }))
  t.equal(cross.reply.kind === 'deny' && cross.reply.status, 403)
  t.same(on.checks, [], 'cross-site: no credential looked at')
  const token = await on.handle(post(sameOrigin))
  t.equal(token.reply.kind === 'deny' && token.reply.status, 203)
  t.same(token.reply.kind === 'deny' && JSON.parse(token.reply.body), { token: 'dex.id.token.SECRET' })
  t.notMatch(on.raw(), /SECRET/, 'the token is never logged')
})

t.test('a replay of the user page renders it when allowed; the token endpoint is named, never run', async (t) => {
  const h = harness({ config: { userPageApiToken: true }, result: { decision: ALLOW, path: '/authservice/me' } })
  t.match(await h.replay(get('/authservice/me', { accept: 'text/html' })), { verdict: { outcome: 'user-page' }, reply: { kind: 'deny', status: 203 } })
  const token = await h.replay({ method: 'POST', target: '/authservice/me/token', headers: { 'x-requested-with': 'x', 'sec-fetch-site': 'same-origin' } })
  t.same(token, { endpoint: 'user-token', path: '/authservice/me/token' }, 'a replay never hands out a token')
  t.equal(h.raw(), '', 'not logged')
})
