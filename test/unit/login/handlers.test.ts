/**
 * Login start, callback, logout, sign-out and the after-logout page, with a stub session store,
 * token endpoint and verifier, and a real login-flow key ring. Every answer is a non-200 reply
 * (a 200 would let Envoy forward the request upstream) and never a 5xx.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import type { JWTPayload } from 'jose'
import type { CheckReply, HeaderList } from '../../../src/authz/reply.js'
import type { Config } from '../../../src/config/types.js'
import { kubeflowConfig } from '../../fixtures/config.js'
import { AuthServiceError, ProviderUnavailableError, SessionStoreUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import { FLOW_COOKIE_PREFIX, flowCookieName, openFlow } from '../../../src/login/flow.js'
import { createLoginHandlers, type FlowRequest } from '../../../src/login/handlers.js'
import type { TokenClient, TokenResponse } from '../../../src/login/token-client.js'
import type { TokenVerifier } from '../../../src/oidc/token-verifier.js'
import { deriveKeys } from '../../../src/session/keys.js'
import type { Session } from '../../../src/session/session.js'
import type { SessionStore } from '../../../src/session/store.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const NOW = 1_750_000_000_000
const HOUR = 3_600_000
const ORIGIN = 'https://kubeflow.example.com'

/** A Kubeflow manifest's settings (OIDC_AUTH_URL=/dex/auth, REDIRECT_URL=/authservice/oidc/callback), redis sessions. */
const config = (overrides: Partial<Config> = {}): Config =>
  kubeflowConfig({
    scopes: ['openid', 'email', 'groups', 'profile', 'offline_access'],
    afterLogoutUrl: '/authservice/site/after_logout',
    sessionStoreType: 'redis',
    redisAddr: '127.0.0.1:6379',
    ...overrides,
  })

/** Dex's ID-token claims for alice, as the verifier returns them (the nonce is the flow's). */
function aliceClaims(nonce: string | undefined): JWTPayload {
  return {
    iss: ISSUER,
    sub: 'CgVhbGljZRIFbG9jYWw',
    aud: 'kubeflow-oidc-authservice',
    iat: NOW / 1000,
    exp: NOW / 1000 + 3600,
    nonce,
    at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['team-a'],
    name: 'Alice',
  }
}

function storedSession(overrides: Partial<Session> = {}): Session {
  return {
    id: 'stored-session',
    claims: { iss: ISSUER, sub: 'CgVhbGljZRIFbG9jYWw', email: 'alice@example.com', groups: ['team-a'] },
    idToken: 'stored.id.token',
    refreshToken: 'stored-refresh',
    idTokenExpiresAt: NOW + HOUR,
    createdAt: NOW,
    expiresAt: NOW + 24 * HOUR,
    ...overrides,
  }
}

interface HarnessOptions {
  readonly config?: Partial<Config>
  readonly authorization?: string | undefined
  readonly endSession?: string | undefined
  /** Sessions the store already holds, by ticket. */
  readonly sessions?: Record<string, Session>
}

function harness(options: HarnessOptions = {}) {
  let now = NOW
  const cfg = config(options.config)
  const flowRing = deriveKeys({ sessionSecrets: [], clientSecret: cfg.clientSecret }, 'login-flow')
  const sessions = new Map(Object.entries(options.sessions ?? {}))
  const saved: Session[] = []
  const removed: string[] = []
  const revoked: string[] = []
  const exchanges: Array<[code: string, redirectUri: string, codeVerifier: string]> = []
  const counts = { loads: 0 }
  const knobs = {
    storeDown: false,
    storeBug: false,
    removeFails: false,
    hugeTicket: false,
    exchange: undefined as Error | undefined,
    tokens: { idToken: 'dex.id.token', refreshToken: 'dex-refresh' } as TokenResponse,
    verify: undefined as Error | undefined,
    nonce: undefined as string | undefined,
    claims: {} as JWTPayload,
  }
  let issued = 0
  const store: SessionStore = {
    kind: 'redis',
    async save(session) {
      if (knobs.storeDown) throw new SessionStoreUnavailableError()
      if (knobs.storeBug) throw new TypeError('store bug')
      saved.push(session)
      const ticket = knobs.hugeTicket ? 'x'.repeat(40_000) : `ticket-${++issued}`
      sessions.set(ticket, session)
      return ticket
    },
    async load(ticket, nowMs) {
      counts.loads++
      if (knobs.storeDown) throw new SessionStoreUnavailableError()
      if (knobs.storeBug) throw new TypeError('store bug')
      const session = sessions.get(ticket)
      return session !== undefined && session.expiresAt > nowMs ? session : undefined
    },
    async remove(ticket) {
      removed.push(ticket)
      if (knobs.removeFails) throw new SessionStoreUnavailableError()
      sessions.delete(ticket)
    },
    exclusive: async (_id, work) => work(),
    async close() {},
  }
  const tokens: TokenClient = {
    async exchangeCode(code, redirectUri, codeVerifier) {
      exchanges.push([code, redirectUri, codeVerifier])
      if (knobs.exchange) throw knobs.exchange
      return knobs.tokens
    },
    async refresh() {
      throw new Error('not used')
    },
    async revoke(refreshToken) {
      revoked.push(refreshToken)
    },
  }
  const verifier: TokenVerifier = {
    async verify(token) {
      if (knobs.verify) throw knobs.verify
      const claims = { ...aliceClaims(knobs.nonce), ...knobs.claims }
      return { token, issuer: ISSUER, primary: true, claims, expiresAtMs: (claims.exp as number) * 1000 }
    },
  }
  const handlers = createLoginHandlers({
    config: cfg,
    clock: { now: () => now },
    flowRing,
    store,
    tokens,
    verifier,
    identityRules: cfg,
    identityClaims: [cfg.userIdClaim, cfg.groupsClaim],
    endpoints: {
      authorization: () => ('authorization' in options ? options.authorization : '/dex/auth'),
      endSession: () => options.endSession,
    },
  })
  return { handlers, config: cfg, flowRing, knobs, saved, removed, revoked, exchanges, counts, sessions, setNow: (ms: number) => (now = ms) }
}

type Harness = ReturnType<typeof harness>

function request(overrides: Partial<FlowRequest> = {}): FlowRequest {
  return { method: 'GET', target: '/', query: '', headers: {}, cookies: {}, scheme: 'https', ...overrides }
}

function callbackRequest(query: string, cookies: Record<string, string | undefined> = {}, headers: FlowRequest['headers'] = {}): FlowRequest {
  return request({ target: `/authservice/oidc/callback?${query}`, query, cookies, headers })
}

function header(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value)
}

function asDeny(reply: CheckReply) {
  if (reply.kind !== 'deny') throw new Error('every login reply must be a deny: a 200 would reach the upstream')
  return reply
}

const cookieName = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('='))
const isClear = (setCookie: string) => setCookie.includes('Max-Age=0')
const setCookies = (reply: CheckReply) => header(asDeny(reply).headers, 'set-cookie')
const clearedNames = (reply: CheckReply) => setCookies(reply).filter(isClear).map(cookieName)

/** Starts a login for `target` and returns what the browser takes to the IdP and back. */
async function startLogin(h: Harness, target = '/jupyter/?ns=kubeflow-user', overrides: Partial<FlowRequest> = {}) {
  const result = await h.handlers.start(request({ target, ...overrides }))
  const reply = asDeny(result.reply)
  const location = header(reply.headers, 'location')[0]!
  const params = new URL(location, ORIGIN).searchParams
  const state = params.get('state')!
  const flowSetCookie = setCookies(reply).find((cookie) => cookie.startsWith(FLOW_COOKIE_PREFIX) && !isClear(cookie))!
  const pair = flowSetCookie.slice(0, flowSetCookie.indexOf(';'))
  const name = cookieName(pair)
  const sealed = pair.slice(name.length + 1)
  h.knobs.nonce = params.get('nonce')!
  return { result, reply, location, params, state, name, sealed, flowSetCookie, cookies: { [name]: sealed } }
}

/** A complete login up to the callback request (not sent). */
async function loginUntilCallback(h: Harness, target?: string) {
  const login = await startLogin(h, target)
  return { login, callback: callbackRequest(`code=dex-auth-code&state=${encodeURIComponent(login.state)}`, login.cookies) }
}

t.test('login start', async (t) => {
  t.test('redirects to the authorization endpoint with the OIDC code flow, PKCE S256, state and nonce', async (t) => {
    const h = harness()
    const { result, reply, location, params, state, sealed } = await startLogin(h)
    t.equal(reply.status, 302)
    t.equal(reply.body, '')
    t.ok(location.startsWith('/dex/auth?'), 'OIDC_AUTH_URL, relative as Kubeflow sets it')
    t.same([...params.keys()], ['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method'])
    t.equal(params.get('response_type'), 'code')
    t.equal(params.get('client_id'), 'kubeflow-oidc-authservice')
    t.equal(params.get('redirect_uri'), '/authservice/oidc/callback', 'REDIRECT_URL byte for byte')
    t.equal(params.get('scope'), 'openid email groups profile offline_access')
    t.equal(params.get('code_challenge_method'), 'S256', 'explicit: Dex takes a missing method as plain')
    const flow = await openFlow(sealed, state, h.flowRing, NOW)
    t.ok(flow, 'the flow cookie opens with the state sent to the IdP')
    t.equal(params.get('nonce'), flow!.nonce)
    t.equal(params.get('code_challenge'), createHash('sha256').update(flow!.codeVerifier).digest('base64url'), 'the challenge is SHA-256 of the verifier')
    t.notMatch(location, flow!.codeVerifier, 'the verifier itself never leaves the service')
    t.same(header(reply.headers, 'cache-control'), ['no-store'])
    t.same(header(reply.headers, 'referrer-policy'), ['no-referrer'])
    t.same([result.outcome, result.reason], ['login', 'LOGIN_REQUIRED'])
  })

  t.test('an authorization endpoint with a query gets the parameters appended', async (t) => {
    const h = harness({ authorization: 'https://idp.example.com/auth?tenant=kf' })
    const { location } = await startLogin(h)
    t.match(location, /^https:\/\/idp\.example\.com\/auth\?tenant=kf&response_type=code&/)
  })

  t.test('the flow cookie is named after the state, HttpOnly, Lax, 10 minutes, Secure over https', async (t) => {
    const h = harness({ config: { sessionSameSite: 'Strict', sessionCookieHttpOnly: false } })
    const { state, name, flowSetCookie } = await startLogin(h)
    t.equal(name, flowCookieName(state))
    t.match(flowSetCookie, /; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/, 'Lax whatever SESSION_SAME_SITE says, so the IdP redirect back carries it')
    const plain = await startLogin(harness(), '/', { scheme: 'http' })
    t.notMatch(plain.flowSetCookie, 'Secure', 'SECURE_COOKIES=auto over plain http')
  })

  t.test('the page the user asked for is kept in the flow; an unsafe one becomes /', async (t) => {
    const h = harness()
    const good = await startLogin(h, '/notebook/kubeflow-user/nb/lab?reset')
    t.equal((await openFlow(good.sealed, good.state, h.flowRing, NOW))!.target, '/notebook/kubeflow-user/nb/lab?reset')
    const evil = await startLogin(h, '//evil.example/')
    t.equal((await openFlow(evil.sealed, evil.state, h.flowRing, NOW))!.target, '/')
  })

  t.test('cookies the caller asks to send (an ended session\'s clears) come first', async (t) => {
    const h = harness()
    const result = await h.handlers.start(request({ target: '/' }), ['authservice_session=; Max-Age=0; Path=/'])
    const cookies = setCookies(result.reply)
    t.equal(cookies[0], 'authservice_session=; Max-Age=0; Path=/')
    t.ok(cookies[1]!.startsWith(FLOW_COOKIE_PREFIX))
  })

  t.test('at most five logins at once: the oldest flow cookies are evicted', async (t) => {
    const h = harness()
    const name = (i: number) => flowCookieName(`old-state-${i}`)
    const flows = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [name(i), 'sealed']))
    const cases: [present: number, evicted: string[]][] = [
      [4, []],
      [5, [name(0)]],
      [7, [name(0), name(1), name(2)]],
      // A flood (cookie tossing): at most ten cleared per answer, so the answer stays small for Envoy.
      [120, Array.from({ length: 10 }, (_, i) => name(i))],
    ]
    for (const [present, evicted] of cases) {
      const result = await h.handlers.start(request({ target: '/', cookies: { authservice_session: 'x', ...flows(present) } }))
      t.same(clearedNames(result.reply), evicted, `${present} present: ${evicted.length} evicted`)
    }
  })

  t.test('before the provider is discovered, the browser is told to retry instead of redirected', async (t) => {
    const h = harness({ authorization: undefined })
    const result = await h.handlers.start(request({ target: '/' }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 401)
    t.same(header(reply.headers, 'retry-after'), ['5'])
    t.same(header(reply.headers, 'location'), [])
    t.same(setCookies(reply), [], 'no flow cookie')
    t.same([result.outcome, result.reason], ['unavailable', 'PROVIDER_UNAVAILABLE'])
  })
})

t.test('callback', async (t) => {
  t.test('a session too large for eight cookies ends the login with a readable page, not a loop', async (t) => {
    const h = harness()
    h.knobs.hugeTicket = true
    const { callback } = await loginUntilCallback(h)
    const result = await h.handlers.callback(callback)
    const reply = asDeny(result.reply)
    t.equal(reply.status, 400)
    t.same(result.codes, ['ERR_SESSION_TOO_LARGE'])
    t.match(reply.body, /redis session store/)
    t.notOk(setCookies(reply).some((cookie) => cookie.startsWith('authservice_session')), 'no partial session cookie')
  })

  t.test('a good callback creates a session and returns the browser to the page it asked for', async (t) => {
    const h = harness()
    const { login, callback } = await loginUntilCallback(h)
    h.setNow(NOW + 30_000)
    const result = await h.handlers.callback(callback)
    const reply = asDeny(result.reply)
    t.equal(reply.status, 302)
    t.same(header(reply.headers, 'location'), ['/jupyter/?ns=kubeflow-user'])
    t.same(setCookies(reply), [
      'authservice_session=ticket-1; Max-Age=86400; Path=/; HttpOnly; Secure; SameSite=Lax',
      `${login.name}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax`,
    ])
    t.same(header(reply.headers, 'cache-control'), ['no-store'])
    t.same([result.outcome, result.reason, result.user], ['login-complete', 'LOGIN_COMPLETE', 'alice@example.com'])

    const flow = (await openFlow(login.sealed, login.state, h.flowRing, NOW))!
    t.same(h.exchanges, [['dex-auth-code', '/authservice/oidc/callback', flow.codeVerifier]], 'the code is exchanged with the PKCE verifier and the exact redirect_uri')
    t.equal(h.saved.length, 1)
    const session = h.saved[0]!
    t.match(session.id, /^[A-Za-z0-9_-]{43}$/, 'a fresh 256-bit session id')
    t.same(session.claims, {
      iss: ISSUER,
      sub: 'CgVhbGljZRIFbG9jYWw',
      iat: NOW / 1000,
      exp: NOW / 1000 + 3600,
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice',
      groups: ['team-a'],
    })
    t.same(
      [session.idToken, session.refreshToken, session.idTokenExpiresAt, session.createdAt, session.expiresAt],
      ['dex.id.token', 'dex-refresh', NOW + HOUR, NOW + 30_000, NOW + 30_000 + 86_400_000],
    )
  })

  t.test('every login gets a new session id (no fixation)', async (t) => {
    const h = harness()
    await h.handlers.callback((await loginUntilCallback(h)).callback)
    await h.handlers.callback((await loginUntilCallback(h)).callback)
    t.not(h.saved[0]!.id, h.saved[1]!.id)
  })

  t.test('the session this login replaces is ended server-side; a header session is not touched', async (t) => {
    const h = harness()
    const { callback } = await loginUntilCallback(h)
    const result = await h.handlers.callback({
      ...callback,
      cookies: { ...callback.cookies, authservice_session: 'old-cookie-ticket' },
      headers: { authorization: 'Bearer header-ticket' },
    })
    t.equal(asDeny(result.reply).status, 302)
    t.same(h.removed, ['old-cookie-ticket'])
  })

  t.test('a failure to end the replaced session does not fail the login', async (t) => {
    const h = harness()
    h.knobs.removeFails = true
    const { callback } = await loginUntilCallback(h)
    const result = await h.handlers.callback({ ...callback, cookies: { ...callback.cookies, authservice_session: 'old' } })
    t.equal(result.outcome, 'login-complete')
  })

  t.test('AFTER_LOGIN_URL receives the original page as ?next=', async (t) => {
    for (const [afterLoginUrl, expected] of [
      ['https://kubeflow.example.com/welcome', 'https://kubeflow.example.com/welcome?next=%2Fjupyter%2F%3Fns%3Dkubeflow-user'],
      ['/welcome?lang=en', '/welcome?lang=en&next=%2Fjupyter%2F%3Fns%3Dkubeflow-user'],
    ] as const) {
      const h = harness({ config: { afterLoginUrl } })
      const result = await h.handlers.callback((await loginUntilCallback(h)).callback)
      t.same(header(asDeny(result.reply).headers, 'location'), [expected], afterLoginUrl)
    }
  })

  t.test('the session cookie follows SESSION_COOKIE_NAME, SESSION_SAME_SITE, SESSION_COOKIE_HTTPONLY and SESSION_MAX_AGE, without Secure over http', async (t) => {
    const h = harness({ config: { sessionCookieName: 'kf_session', sessionSameSite: 'Strict', sessionMaxAgeSeconds: 3600, sessionCookieHttpOnly: false } })
    const { callback } = await loginUntilCallback(h)
    const result = await h.handlers.callback({ ...callback, scheme: 'http' })
    t.equal(setCookies(result.reply)[0], 'kf_session=ticket-1; Max-Age=3600; Path=/; SameSite=Strict')
  })

  t.test('an error from the identity provider is a readable page, escaped: 403 for access_denied, 400 otherwise', async (t) => {
    const h = harness()
    const login = await startLogin(h)
    const denied = await h.handlers.callback(callbackRequest(`error=access_denied&state=${encodeURIComponent(login.state)}`, login.cookies))
    const deniedReply = asDeny(denied.reply)
    t.equal(deniedReply.status, 403)
    t.same(header(deniedReply.headers, 'content-type'), ['text/html; charset=utf-8'])
    t.match(deniedReply.body, 'The identity provider refused the sign-in (access_denied).')
    t.match(deniedReply.body, 'id="login-again"', 'a way to log in again, never a redirect loop')
    t.same(clearedNames(denied.reply), [login.name], 'the flow cookie is cleared')
    t.same([denied.outcome, denied.reason, denied.codes], ['callback-failed', 'ERR_LOGIN_PROVIDER_ERROR', ['ERR_LOGIN_PROVIDER_ERROR']])
    t.same(h.exchanges, [], 'nothing is exchanged')

    const hostile = '<script>alert(1)</script>' + 'x'.repeat(100) + 'TAIL'
    const other = await h.handlers.callback(callbackRequest(new URLSearchParams({ error: hostile }).toString()))
    const otherReply = asDeny(other.reply)
    t.equal(otherReply.status, 400)
    t.notMatch(otherReply.body, '<script>alert(1)', 'never reflected unescaped')
    t.match(otherReply.body, '&lt;script&gt;alert(1)&lt;/script&gt;')
    t.notMatch(otherReply.body, 'TAIL', 'cut to 64 characters')
    t.same(setCookies(other.reply), [], 'no flow cookie to clear without a state')
  })

  t.test('a callback without state is refused before anything else', async (t) => {
    const h = harness()
    const result = await h.handlers.callback(callbackRequest('code=dex-auth-code'))
    t.equal(asDeny(result.reply).status, 400)
    t.equal(result.reason, 'ERR_LOGIN_STATE_MISSING')
    t.match(asDeny(result.reply).body, 'The sign-in response is incomplete.')
    t.same(h.exchanges, [])
  })

  t.test('a callback for a login this browser did not start is refused (login CSRF)', async (t) => {
    const h = harness()
    const victim = await startLogin(h)
    const attacker = await startLogin(h)
    const cases: [name: string, request: FlowRequest, cleared: string[]][] = [
      ['an unknown state, no flow cookie', callbackRequest('code=c&state=attacker-state'), []],
      ['the state of another login than the cookie\'s', callbackRequest(`code=c&state=${encodeURIComponent(attacker.state)}`, victim.cookies), []],
      [
        'another login\'s flow under this state\'s cookie name',
        callbackRequest(`code=c&state=${encodeURIComponent(attacker.state)}`, { [attacker.name]: victim.sealed }),
        [attacker.name],
      ],
    ]
    for (const [name, callback, cleared] of cases) {
      const result = await h.handlers.callback(callback)
      t.equal(asDeny(result.reply).status, 400, name)
      t.equal(result.reason, 'ERR_LOGIN_STATE_MISMATCH', name)
      t.match(asDeny(result.reply).body, 'This sign-in has expired or was started in another browser.', name)
      t.same(clearedNames(result.reply), cleared, `${name}: cleared`)
    }
    t.same(h.exchanges, [], 'no code is ever exchanged')
  })

  t.test('a login older than 10 minutes has expired', async (t) => {
    const h = harness()
    const { login, callback } = await loginUntilCallback(h)
    h.setNow(NOW + 600_001)
    const result = await h.handlers.callback(callback)
    t.same([asDeny(result.reply).status, result.reason], [400, 'ERR_LOGIN_STATE_MISMATCH'])
    t.same(clearedNames(result.reply), [login.name])
  })

  t.test('a tampered flow cookie is refused', async (t) => {
    const h = harness()
    const { login, callback } = await loginUntilCallback(h)
    const parts = login.sealed.split('.')
    parts[3] = (parts[3]!.startsWith('A') ? 'B' : 'A') + parts[3]!.slice(1)
    const result = await h.handlers.callback({ ...callback, cookies: { [login.name]: parts.join('.') } })
    t.same([asDeny(result.reply).status, result.reason], [400, 'ERR_LOGIN_STATE_MISMATCH'])
    t.same(h.exchanges, [])
  })

  t.test('a callback without a code is incomplete', async (t) => {
    const h = harness()
    const login = await startLogin(h)
    const result = await h.handlers.callback(callbackRequest(`state=${encodeURIComponent(login.state)}`, login.cookies))
    t.same([asDeny(result.reply).status, result.reason], [400, 'ERR_LOGIN_STATE_MISSING'])
    t.same(clearedNames(result.reply), [login.name])
  })

  t.test('a failed exchange, a refused token or an unverified user never creates a session', async (t) => {
    const cases: [name: string, setup: (h: Harness) => void, status: number, reason: string, message: string][] = [
      [
        'the token endpoint refuses the code',
        (h) => (h.knobs.exchange = new AuthServiceError('ERR_LOGIN_EXCHANGE_FAILED', 'token endpoint answered 400')),
        400,
        'ERR_LOGIN_EXCHANGE_FAILED',
        'The sign-in could not be completed.',
      ],
      ['the exchange fails unexpectedly', (h) => (h.knobs.exchange = new TypeError('boom')), 400, 'ERR_LOGIN_EXCHANGE_FAILED', 'The sign-in could not be completed.'],
      [
        'the ID token does not verify',
        (h) => (h.knobs.verify = new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')),
        403,
        'ERR_LOGIN_TOKEN_INVALID',
        'Your account cannot be used to sign in here.',
      ],
      [
        'the ID token\'s nonce is not this login\'s (a replayed token)',
        (h) => (h.knobs.claims = { nonce: 'another-login-nonce' }),
        400,
        'ERR_LOGIN_TOKEN_INVALID',
        'The sign-in response did not match this sign-in.',
      ],
      [
        'the ID token has no nonce',
        (h) => (h.knobs.claims = { nonce: undefined }),
        400,
        'ERR_LOGIN_TOKEN_INVALID',
        'The sign-in response did not match this sign-in.',
      ],
      [
        'the email is not verified (USERID_CLAIM=email)',
        (h) => (h.knobs.claims = { email_verified: false }),
        403,
        'ERR_LOGIN_TOKEN_INVALID',
        'Your account cannot be used to sign in here.',
      ],
      [
        'the token lacks the USERID_CLAIM',
        (h) => (h.knobs.claims = { email: undefined }),
        403,
        'ERR_LOGIN_TOKEN_INVALID',
        'Your account cannot be used to sign in here.',
      ],
      [
        'the provider\'s keys are unavailable',
        (h) => (h.knobs.verify = new ProviderUnavailableError()),
        400,
        'ERR_LOGIN_EXCHANGE_FAILED',
        'The identity provider is unavailable. Try again shortly.',
      ],
    ]
    for (const [name, setup, status, reason, message] of cases) {
      const h = harness()
      const { login, callback } = await loginUntilCallback(h)
      setup(h)
      const result = await h.handlers.callback(callback)
      const reply = asDeny(result.reply)
      t.same([reply.status, result.outcome, result.reason, result.codes], [status, 'callback-failed', reason, [reason]], name)
      t.match(reply.body, message, `${name}: the page says why`)
      t.same(h.saved, [], `${name}: no session`)
      t.same(clearedNames(result.reply), [login.name], `${name}: the flow cookie is cleared`)
      t.notOk(setCookies(result.reply).some((cookie) => cookie.startsWith('authservice_session=')), `${name}: no session cookie`)
    }
  })

  t.test('a session store outage is 401 with Retry-After, and the flow cookie is cleared', async (t) => {
    const h = harness()
    const { login, callback } = await loginUntilCallback(h)
    h.knobs.storeDown = true
    const result = await h.handlers.callback(callback)
    const reply = asDeny(result.reply)
    t.equal(reply.status, 401)
    t.same(header(reply.headers, 'retry-after'), ['5'])
    t.same(setCookies(reply).map(cookieName), [login.name])
    t.same([result.outcome, result.reason], ['unavailable', 'SESSION_STORE_UNAVAILABLE'])
  })

  t.test('a session store bug is not disguised as an outage', async (t) => {
    const h = harness()
    const { callback } = await loginUntilCallback(h)
    h.knobs.storeBug = true
    await t.rejects(h.handlers.callback(callback), { message: 'store bug' })
  })
})

t.test('logout (POST <prefix>logout)', async (t) => {
  const logout = (overrides: Partial<FlowRequest> = {}) => request({ method: 'POST', target: '/authservice/logout', ...overrides })

  t.test('ends the cookie session, revokes its refresh token and answers 201 with afterLogoutURL', async (t) => {
    const h = harness({ sessions: { 'ticket-a': storedSession() } })
    const result = await h.handlers.logout(logout({ cookies: { authservice_session: 'ticket-a', 'authservice_session.1': 'x' } }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 201, 'not 200, which Envoy would forward upstream')
    t.same(header(reply.headers, 'content-type'), ['application/json; charset=utf-8'])
    t.same(JSON.parse(reply.body), { afterLogoutURL: '/authservice/site/after_logout' })
    t.same(clearedNames(result.reply), ['authservice_session', 'authservice_session.1'])
    t.same(h.removed, ['ticket-a'])
    t.same(h.revoked, ['stored-refresh'])
    t.same([result.outcome, result.reason], ['logout', 'LOGOUT'])
  })

  t.test('a session without a refresh token is ended without revocation', async (t) => {
    const h = harness({ sessions: { 'ticket-a': storedSession({ refreshToken: undefined }) } })
    await h.handlers.logout(logout({ cookies: { authservice_session: 'ticket-a' } }))
    t.same(h.removed, ['ticket-a'])
    t.same(h.revoked, [])
  })

  t.test('the session in AUTH_HEADER is ended first; an unknown header ticket falls back to the cookie', async (t) => {
    const h = harness({ sessions: { 'ticket-h': storedSession({ refreshToken: 'rh' }), 'ticket-c': storedSession({ refreshToken: 'rc' }) } })
    await h.handlers.logout(logout({ headers: { authorization: 'Bearer ticket-h' }, cookies: { authservice_session: 'ticket-c' } }))
    t.same(h.removed, ['ticket-h'], 'the header ticket')
    await h.handlers.logout(logout({ headers: { authorization: 'Bearer forgotten' }, cookies: { authservice_session: 'ticket-c' } }))
    t.same(h.removed, ['ticket-h', 'ticket-c'], 'then the cookie')
  })

  t.test('without a session: 401 JSON with a bearer challenge, nothing revoked', async (t) => {
    const h = harness()
    const result = await h.handlers.logout(logout({ cookies: { authservice_session: 'expired' } }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 401)
    t.same(JSON.parse(reply.body), { error: 'unauthenticated', message: 'No session to log out of.' })
    t.same(header(reply.headers, 'www-authenticate'), ['Bearer realm="authservice"'])
    t.same([result.outcome, result.reason], ['logout-refused', 'NO_SESSION'])
    t.same([h.removed, h.revoked], [[], []])
  })

  t.test('with SameSite=None, a cookie-only logout needs a same-origin signal (CSRF)', async (t) => {
    const cases: [name: string, headers: FlowRequest['headers'], ended: boolean][] = [
      ['no signal at all', {}, false],
      ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin' }, true],
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }, false],
      ['Sec-Fetch-Site: same-site (a sibling subdomain)', { 'sec-fetch-site': 'same-site', host: 'kubeflow.example.com' }, false],
      ['Origin host equal to Host', { origin: ORIGIN, host: 'kubeflow.example.com' }, true],
      ['Origin of another site', { origin: 'https://evil.example', host: 'kubeflow.example.com' }, false],
      ['Origin on another port', { origin: 'https://kubeflow.example.com:8443', host: 'kubeflow.example.com' }, false],
      ['an opaque Origin (null)', { origin: 'null', host: 'kubeflow.example.com' }, false],
      ['Origin without Host', { origin: ORIGIN }, false],
    ]
    for (const [name, headers, ended] of cases) {
      const h = harness({ config: { sessionSameSite: 'None' }, sessions: { 'ticket-a': storedSession() } })
      const result = await h.handlers.logout(logout({ headers, cookies: { authservice_session: 'ticket-a' } }))
      t.equal(asDeny(result.reply).status, ended ? 201 : 401, name)
      t.same(h.removed, ended ? ['ticket-a'] : [], `${name}: session ${ended ? 'ended' : 'kept'}`)
    }
  })

  t.test('with SameSite=None, a session in AUTH_HEADER (which a cross-site form cannot send) is still ended', async (t) => {
    const h = harness({ config: { sessionSameSite: 'None' }, sessions: { 'ticket-h': storedSession() } })
    const result = await h.handlers.logout(logout({ headers: { authorization: 'Bearer ticket-h' } }))
    t.equal(asDeny(result.reply).status, 201)
    t.same(h.removed, ['ticket-h'])
  })

  t.test('with SameSite=Lax or Strict the browser already keeps cross-site POSTs cookie-less', async (t) => {
    for (const sessionSameSite of ['Lax', 'Strict'] as const) {
      const h = harness({ config: { sessionSameSite }, sessions: { 'ticket-a': storedSession() } })
      const result = await h.handlers.logout(logout({ cookies: { authservice_session: 'ticket-a' } }))
      t.equal(asDeny(result.reply).status, 201, sessionSameSite)
    }
  })

  t.test('a session store outage is 401 with Retry-After (JSON), whether loading or removing', async (t) => {
    const loading = harness({ sessions: { 'ticket-a': storedSession() } })
    loading.knobs.storeDown = true
    const removing = harness({ sessions: { 'ticket-a': storedSession() } })
    removing.knobs.removeFails = true
    for (const [name, h] of [['loading', loading], ['removing', removing]] as const) {
      const result = await h.handlers.logout(logout({ cookies: { authservice_session: 'ticket-a' } }))
      const reply = asDeny(result.reply)
      t.equal(reply.status, 401, name)
      t.same(header(reply.headers, 'retry-after'), ['5'], name)
      t.same(header(reply.headers, 'content-type'), ['application/json; charset=utf-8'], name)
      t.same([result.outcome, result.reason], ['unavailable', 'SESSION_STORE_UNAVAILABLE'], name)
      t.same(setCookies(result.reply), [], `${name}: the cookie is kept, the session was not ended`)
    }
  })

  t.test('a session store bug is not disguised as an outage', async (t) => {
    const h = harness()
    h.knobs.storeBug = true
    await t.rejects(h.handlers.logout(logout({ cookies: { authservice_session: 'ticket-a' } })), { message: 'store bug' })
  })
})

t.test('sign-out (GET <prefix>sign_out?rd=)', async (t) => {
  const signOut = (query: string, overrides: Partial<FlowRequest> = {}) =>
    request({ target: `/authservice/sign_out${query ? `?${query}` : ''}`, query, headers: { 'sec-fetch-site': 'same-origin' }, ...overrides })

  t.test('ends the session and redirects to a safe rd, clearing the session cookies', async (t) => {
    const h = harness({ sessions: { 'ticket-a': storedSession() } })
    const result = await h.handlers.signOut(signOut('rd=%2Fjupyter%2F%3Fns%3Dx', { cookies: { authservice_session: 'ticket-a' } }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 302)
    t.same(header(reply.headers, 'location'), ['/jupyter/?ns=x'])
    t.same(clearedNames(result.reply), ['authservice_session'])
    t.same(h.removed, ['ticket-a'])
    t.same(h.revoked, ['stored-refresh'])
    t.same([result.outcome, result.reason], ['logout', 'SIGN_OUT'])
  })

  t.test('an unsafe or missing rd goes to AFTER_LOGOUT_URL instead', async (t) => {
    const h = harness()
    for (const query of ['rd=%2F%2Fevil.example', 'rd=https%3A%2F%2Fevil.example%2F', 'rd=%2F%5Cevil.example', '']) {
      const result = await h.handlers.signOut(signOut(query))
      t.same(header(asDeny(result.reply).headers, 'location'), ['/authservice/site/after_logout'], query || 'no rd')
    }
  })

  t.test('without a session it still clears the cookie and redirects (signing out twice is fine)', async (t) => {
    const h = harness({ endSession: 'https://idp.example.com/logout' })
    const result = await h.handlers.signOut(signOut('rd=%2F'))
    t.same(header(asDeny(result.reply).headers, 'location'), ['/'], 'no RP-initiated logout without an ID token to hint')
    t.same(clearedNames(result.reply), ['authservice_session'])
  })

  t.test('a cross-site sign-out is refused and the session kept', async (t) => {
    const h = harness({ sessions: { 'ticket-a': storedSession() } })
    const result = await h.handlers.signOut(signOut('rd=%2F', { headers: { 'sec-fetch-site': 'cross-site' }, cookies: { authservice_session: 'ticket-a' } }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 403)
    t.match(reply.body, 'Sign-out must start from a page of this site.')
    t.same(setCookies(reply), [])
    t.same([result.outcome, result.reason], ['logout-refused', 'CROSS_SITE'])
    t.equal(h.counts.loads, 0, 'the store is not even consulted')
    t.same(h.removed, [])
  })

  t.test('with an end_session_endpoint, the browser is sent to the provider with id_token_hint', async (t) => {
    const h = harness({ endSession: 'https://idp.example.com/logout', sessions: { 'ticket-a': storedSession() } })
    const result = await h.handlers.signOut(signOut('rd=%2Fjupyter%2F', { cookies: { authservice_session: 'ticket-a' } }))
    const location = header(asDeny(result.reply).headers, 'location')[0]!
    const url = new URL(location)
    t.equal(url.origin + url.pathname, 'https://idp.example.com/logout')
    t.same([...url.searchParams.entries()], [
      ['id_token_hint', 'stored.id.token'],
      ['client_id', 'kubeflow-oidc-authservice'],
    ], 'a relative AFTER_LOGOUT_URL is never sent as post_logout_redirect_uri')
    t.same(clearedNames(result.reply), ['authservice_session'])
  })

  t.test('an absolute AFTER_LOGOUT_URL is sent as post_logout_redirect_uri', async (t) => {
    const h = harness({
      config: { afterLogoutUrl: 'https://kubeflow.example.com/signed-out' },
      endSession: 'https://idp.example.com/logout?realm=kf',
      sessions: { 'ticket-a': storedSession() },
    })
    const result = await h.handlers.signOut(signOut('', { cookies: { authservice_session: 'ticket-a' } }))
    const url = new URL(header(asDeny(result.reply).headers, 'location')[0]!)
    t.same([...url.searchParams.entries()], [
      ['realm', 'kf'],
      ['id_token_hint', 'stored.id.token'],
      ['client_id', 'kubeflow-oidc-authservice'],
      ['post_logout_redirect_uri', 'https://kubeflow.example.com/signed-out'],
    ])
  })

  t.test('a session store outage is a 401 page with Retry-After; the session cookie is kept', async (t) => {
    const h = harness()
    h.knobs.storeDown = true
    const result = await h.handlers.signOut(signOut('rd=%2F', { cookies: { authservice_session: 'ticket-a' } }))
    const reply = asDeny(result.reply)
    t.equal(reply.status, 401)
    t.same(header(reply.headers, 'retry-after'), ['5'])
    t.same(header(reply.headers, 'content-type'), ['text/html; charset=utf-8'])
    t.same(setCookies(reply), [])
    t.same([result.outcome, result.reason], ['unavailable', 'SESSION_STORE_UNAVAILABLE'])
  })

  t.test('a session store bug is not disguised as an outage', async (t) => {
    const h = harness()
    h.knobs.storeBug = true
    await t.rejects(h.handlers.signOut(signOut('', { cookies: { authservice_session: 'ticket-a' } })), { message: 'store bug' })
  })
})

t.test('the after-logout page is a 401 page (never forwarded upstream) with a way to log in again', async (t) => {
  const result = harness().handlers.afterLogout()
  const reply = asDeny(result.reply)
  t.equal(reply.status, 401)
  t.same(header(reply.headers, 'content-type'), ['text/html; charset=utf-8'])
  t.same(header(reply.headers, 'cache-control'), ['no-store'])
  t.match(reply.body, 'You have signed out.')
  t.match(reply.body, 'id="login-again"')
  t.same([result.outcome, result.reason], ['after-logout', 'AFTER_LOGOUT'])
})
