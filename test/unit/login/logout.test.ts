/**
 * Logout, sign-out and the after-logout page, with a stub session store and token endpoint. Every
 * answer is a non-200 reply (a 200 would let Envoy forward the request upstream) and never a 5xx.
 */
import t from 'tap'
import type { FlowRequest } from '../../../src/login/results.js'
import { createLogout } from '../../../src/login/logout.js'
import type { Session } from '../../../src/session/session.js'
import { HOUR, ISSUER, NOW, ORIGIN, asDeny, clearedNames, header, loginHarness, request, setCookies, type HarnessOptions } from '../../helpers/login-handlers.js'

const harness = (options?: HarnessOptions) => loginHarness(createLogout, options)

/** A session alice already has, as the store returns it. */
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
