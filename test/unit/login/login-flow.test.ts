/**
 * Login start and callback, with a stub session store, token endpoint and verifier, and a real
 * login-flow key ring. Every answer is a non-200 reply (a 200 would let Envoy forward the request
 * upstream) and never a 5xx.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { AuthServiceError, ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import { FLOW_COOKIE_PREFIX, flowCookieName, openFlow } from '../../../src/login/flow.js'
import type { FlowRequest } from '../../../src/login/results.js'
import { createLoginFlow } from '../../../src/login/login-flow.js'
import {
  HOUR,
  ISSUER,
  NOW,
  asDeny,
  callbackRequest,
  clearedNames,
  cookieName,
  header,
  loginHarness,
  loginUntilCallback,
  request,
  setCookies,
  startLogin,
  type HarnessOptions,
} from '../../helpers/login-handlers.js'

const harness = (options?: HarnessOptions) => loginHarness(createLoginFlow, options)
type Harness = ReturnType<typeof harness>

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
    t.same(
      h.codeExchanges.map((exchange) => [exchange.callbackQuery, exchange.state, exchange.nonce]),
      [[callback.query, login.state, flow.nonce]],
      'the callback as received, with this flow\'s state and nonce for the token client to check',
    )
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
        'a group holds a control character (it would become kubeflow-groups)',
        (h) => (h.knobs.claims = { groups: ['team-a', 'team\u0007b'] }),
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
