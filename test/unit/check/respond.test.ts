/** Decision → the answer Envoy acts on: allow with identity headers, or a 401/403 deny the client sees. */
import t from 'tap'
import type { Decision } from '../../../src/check/decision.js'
import type { Identity } from '../../../src/identity/identity.js'
import { CHECK_FAILED_REPLY, createResponder, pageReply, redirect, type CheckReply, type HeaderList, type ReplyOptions } from '../../../src/check/respond.js'
import type { LoginAnswer, LoginResult } from '../../../src/login/results.js'
import type { UserPageAnswer, UserPageResult } from '../../../src/check/user-page.js'
import { contentSecurityPolicy } from '../../../src/pages/html.js'

/** The policy of every page and JSON body the service answers with (never framed). */
const POLICY = contentSecurityPolicy()

const KUBEFLOW: ReplyOptions = {
  userIdHeader: 'kubeflow-userid',
  groupsHeader: 'kubeflow-groups',
  setAuthorizationHeader: false,
  setXAuthRequest: false,
  retryAfterSeconds: 5,
}

/** oauth2-proxy's headers, removed from the client's request whatever SET_XAUTHREQUEST says. */
const X_AUTH_REQUEST = ['x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username']

function identity(overrides: Partial<Identity> = {}): Identity {
  return { userId: 'alice@example.com', groups: ['team-a', 'team-b'], email: 'alice@example.com', idToken: 'dex.id.token', ...overrides }
}

const allow = (id: Identity = identity()): Decision => ({ outcome: 'allow', kind: 'navigation', reason: 'CREDENTIAL_VALID', identity: id, via: 'authorization' })

function header(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value)
}

function asAllow(reply: CheckReply) {
  if (reply.kind !== 'allow') throw new Error(`expected an allow, got ${reply.kind}`)
  return reply
}

function asDeny(reply: CheckReply) {
  if (reply.kind !== 'deny') throw new Error(`expected a deny, got ${reply.kind}`)
  return reply
}

t.test('an allowed user reaches the upstream with kubeflow-userid and comma-joined kubeflow-groups', async (t) => {
  const reply = asAllow(createResponder(KUBEFLOW)(allow()))
  t.same(reply.upstreamHeaders, [
    ['kubeflow-userid', 'alice@example.com'],
    ['kubeflow-groups', 'team-a,team-b'],
  ])
  t.same(reply.removeHeaders, X_AUTH_REQUEST, "a client-sent X-Auth-Request-* is removed (SET_XAUTHREQUEST off)")
  t.same(reply.responseHeaders, [])
})

t.test('USERID_HEADER and GROUPS_HEADER name the identity headers', async (t) => {
  const reply = asAllow(createResponder({ ...KUBEFLOW, userIdHeader: 'x-user', groupsHeader: 'x-groups' })(allow()))
  t.same(reply.upstreamHeaders, [
    ['x-user', 'alice@example.com'],
    ['x-groups', 'team-a,team-b'],
  ])
})

t.test('a user without groups gets no groups header, and a client-sent one is removed', async (t) => {
  const reply = asAllow(createResponder(KUBEFLOW)(allow(identity({ groups: [] }))))
  t.same(reply.upstreamHeaders, [['kubeflow-userid', 'alice@example.com']])
  t.same(reply.removeHeaders, ['kubeflow-groups', ...X_AUTH_REQUEST])
})

t.test('SET_AUTHORIZATION_HEADER', async (t) => {
  const cases: [name: string, on: boolean, idToken: string | undefined, expected: string[]][] = [
    ['on: the Dex ID token is forwarded as a bearer token', true, 'dex.id.token', ['Bearer dex.id.token']],
    ['on: an extra-issuer identity (no Dex token) sets no authorization', true, undefined, []],
    ['off: the Dex ID token is not forwarded', false, 'dex.id.token', []],
  ]
  for (const [name, setAuthorizationHeader, idToken, expected] of cases) {
    const reply = asAllow(createResponder({ ...KUBEFLOW, setAuthorizationHeader })(allow(identity({ idToken }))))
    t.same(header(reply.upstreamHeaders, 'authorization'), expected, name)
    t.notOk(reply.removeHeaders.includes('authorization'), `${name}: the client's authorization is not removed`)
  }
})

t.test('a client-sent kubeflow-userid and kubeflow-groups are removed on skip paths', async (t) => {
  const reply = asAllow(createResponder(KUBEFLOW)({ outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' }))
  t.same(reply.upstreamHeaders, [], 'no identity is asserted on a skip path')
  t.same([...reply.removeHeaders].sort(), ['kubeflow-groups', 'kubeflow-userid', ...X_AUTH_REQUEST].sort())
  t.same(reply.responseHeaders, [])
  const on = asAllow(createResponder({ ...KUBEFLOW, setXAuthRequest: true })({ outcome: 'skip', kind: 'api', reason: 'SKIP_PATH' }))
  t.same(on.upstreamHeaders, [], 'SET_XAUTHREQUEST on: still no identity on a skip path')
  t.same([...on.removeHeaders].sort(), [...reply.removeHeaders].sort(), "and the client's X-Auth-Request-* are removed all the same")
})

t.test("SET_XAUTHREQUEST: oauth2-proxy's X-Auth-Request-User (the user id), -Email and -Groups on allow", async (t) => {
  const build = createResponder({ ...KUBEFLOW, setXAuthRequest: true })
  const reply = asAllow(build(allow(identity({ userId: 'user-alice' }))))
  t.same(reply.upstreamHeaders, [
    ['kubeflow-userid', 'user-alice'],
    ['kubeflow-groups', 'team-a,team-b'],
    ['x-auth-request-user', 'user-alice'],
    ['x-auth-request-email', 'alice@example.com'],
    ['x-auth-request-groups', 'team-a,team-b'],
  ])
  t.same(reply.removeHeaders, ['x-auth-request-preferred-username'], 'we never set a preferred username: a client-sent one is removed')
  const bare = asAllow(build(allow(identity({ userId: 'system:serviceaccount:ns:sa', email: undefined, groups: [] }))))
  t.same(bare.upstreamHeaders, [['kubeflow-userid', 'system:serviceaccount:ns:sa'], ['x-auth-request-user', 'system:serviceaccount:ns:sa']])
  t.same(bare.removeHeaders, ['kubeflow-groups', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username'], 'no email, no groups: the client\'s are removed')
})

t.test('an allow answer never lists a header to remove that it also sets', async (t) => {
  const build = createResponder({ ...KUBEFLOW, setAuthorizationHeader: true, setXAuthRequest: true })
  const decisions: Decision[] = [
    allow(),
    allow(identity({ groups: [] })),
    allow(identity({ groups: [], idToken: undefined })),
    { outcome: 'skip', kind: 'api', reason: 'SKIP_PATH' },
  ]
  for (const decision of decisions) {
    const reply = asAllow(build(decision))
    const set = reply.upstreamHeaders.map(([name]) => name)
    t.same(set.filter((name) => reply.removeHeaders.includes(name)), [], `${decision.outcome} with ${JSON.stringify(set)}`)
    t.equal(new Set(set).size, set.length, `${decision.outcome}: each header is set once`)
  }
})

const denials: [name: string, decision: Decision, status: number, challenge: string | undefined][] = [
  [
    'a user outside the allowlist is refused with 403',
    { outcome: 'forbidden', kind: 'navigation', reason: 'GROUP_NOT_ALLOWED', identity: identity() },
    403,
    undefined,
  ],
  [
    'a request without credentials is 401 with a bearer challenge',
    { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] },
    401,
    'Bearer realm="authservice"',
  ],
  [
    'a refused credential is 401 with error="invalid_token"',
    { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] },
    401,
    'Bearer realm="authservice", error="invalid_token"',
  ],
  [
    'an unavailable provider is 401 (never a 5xx Envoy would blank out)',
    { outcome: 'unavailable', kind: 'navigation', reason: 'PROVIDER_UNAVAILABLE' },
    401,
    'Bearer realm="authservice"',
  ],
]

t.test('denials: status, challenge and caching headers', async (t) => {
  const build = createResponder(KUBEFLOW)
  for (const [name, decision, status, challenge] of denials) {
    const reply = asDeny(build(decision))
    t.equal(reply.status, status, `${name}: status`)
    t.same(header(reply.headers, 'cache-control'), ['no-store'], `${name}: never cached`)
    t.same(header(reply.headers, 'referrer-policy'), ['no-referrer'], `${name}: no referrer`)
    t.same(header(reply.headers, 'content-security-policy'), [POLICY], `${name}: the strict content security policy`)
    t.same(header(reply.headers, 'www-authenticate'), challenge === undefined ? [] : [challenge], `${name}: challenge`)
    t.equal(header(reply.headers, 'content-type').length, 1, `${name}: one content type`)
    t.notOk(header(reply.headers, 'kubeflow-userid').length, `${name}: no identity header on a deny`)
  }
})

t.test('an unavailable provider tells the client when to retry, in the header and the page', async (t) => {
  for (const kind of ['api', 'navigation'] as const) {
    const reply = asDeny(createResponder({ ...KUBEFLOW, retryAfterSeconds: 7 })({ outcome: 'unavailable', kind, reason: 'PROVIDER_UNAVAILABLE' }))
    t.same(header(reply.headers, 'retry-after'), ['7'], `${kind}: Retry-After`)
    t.match(reply.body, /7/, `${kind}: body names the delay`)
  }
  const other = asDeny(createResponder(KUBEFLOW)({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }))
  t.same(header(other.headers, 'retry-after'), [], 'other denials carry no Retry-After')
})

t.test('an API call is denied with JSON, a browser navigation with an HTML page', async (t) => {
  const build = createResponder(KUBEFLOW)
  const api = asDeny(build({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }))
  t.same(header(api.headers, 'content-type'), ['application/json; charset=utf-8'])
  t.same(JSON.parse(api.body), { error: 'unauthenticated', message: 'Authentication is required.' })

  const rejected = asDeny(build({ outcome: 'unauthenticated', kind: 'navigation', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] }))
  t.same(header(rejected.headers, 'content-type'), ['text/html; charset=utf-8'])
  t.match(rejected.body, 'The credential presented is not valid.')
  t.notMatch(rejected.body, 'ERR_TOKEN_EXPIRED', 'internal error codes are not shown to the client')

  const forbidden = asDeny(build({ outcome: 'forbidden', kind: 'api', reason: 'EMAIL_DOMAIN_NOT_ALLOWED', identity: identity() }))
  t.same(JSON.parse(forbidden.body), {
    error: 'forbidden',
    message: 'Your email domain is not allowed to use this service.',
    user: 'alice@example.com',
  })
  t.notMatch(forbidden.body, 'dex.id.token', 'the ID token never appears in a deny body')
})

t.test('a renewed session cookie reaches the browser on an allow, one Set-Cookie per cookie', async (t) => {
  const build = createResponder(KUBEFLOW)
  const cookies = ['authservice_session.1=aaa; Max-Age=60; Path=/; HttpOnly; SameSite=Lax', 'authservice_session.2=bbb; Max-Age=60; Path=/; HttpOnly; SameSite=Lax']
  const reply = asAllow(build(allow(), { setCookies: cookies }))
  t.same(reply.responseHeaders, cookies.map((cookie) => ['set-cookie', cookie]))
  t.same(header(reply.upstreamHeaders, 'set-cookie'), [], 'the cookie goes to the client, not the upstream')
  t.same(asAllow(build(allow(), {})).responseHeaders, [], 'extras without cookies add nothing')
  t.same(asAllow(build(allow(), { setCookies: [] })).responseHeaders, [], 'an empty cookie list adds nothing')
})

t.test('a deny never carries the cookies meant for an allow', async (t) => {
  const build = createResponder(KUBEFLOW)
  const reply = asDeny(build({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }, { setCookies: ['authservice_session=x'] }))
  t.same(header(reply.headers, 'set-cookie'), [])
})

t.test('a login decision without a login handler falls back to the 401 sign-in page', async (t) => {
  const build = createResponder(KUBEFLOW)
  const fresh = asDeny(build({ outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: [] }))
  t.equal(fresh.status, 401)
  t.same(header(fresh.headers, 'content-type'), ['text/html; charset=utf-8'])
  t.same(header(fresh.headers, 'www-authenticate'), ['Bearer realm="authservice"'])
  t.same(header(fresh.headers, 'cache-control'), ['no-store'])
  t.match(fresh.body, 'Authentication is required.')

  const refused = asDeny(build({ outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: ['ERR_TOKEN_EXPIRED'] }))
  t.equal(refused.status, 401)
  t.notMatch(refused.body, 'ERR_TOKEN_EXPIRED', 'internal error codes are not shown to the client')
})

t.test('a session store outage is 401 with Retry-After, like a provider outage', async (t) => {
  const reply = asDeny(createResponder(KUBEFLOW)({ outcome: 'unavailable', kind: 'api', reason: 'SESSION_STORE_UNAVAILABLE' }))
  t.equal(reply.status, 401)
  t.same(header(reply.headers, 'retry-after'), ['5'])
})

// What every answer of a login endpoint is made of: a deny (a 200 would let Envoy forward the
// request upstream) that is never cached and never leaks the URL as a referrer, with the cookies to set.
t.test('a redirect is an empty 302 to the location, no-store and no-referrer, then one set-cookie per cookie', async (t) => {
  t.strictSame(redirect('/jupyter/?ns=x', ['a=1; Path=/', 'b=; Max-Age=0; Path=/']), {
    kind: 'deny',
    status: 302,
    headers: [
      ['location', '/jupyter/?ns=x'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=; Max-Age=0; Path=/'],
    ],
    body: '',
  })
  t.strictSame(redirect('https://idp.example.com/logout', []), {
    kind: 'deny',
    status: 302,
    headers: [
      ['location', 'https://idp.example.com/logout'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
    ],
    body: '',
  }, 'no cookies, no set-cookie')
})

t.test('a page carries its status, content type and body, no-store and no-referrer, then extra headers, then cookies', async (t) => {
  const json = { contentType: 'application/json; charset=utf-8', body: '{"afterLogoutURL":"/"}' }
  t.strictSame(pageReply(401, json, ['s=; Max-Age=0; Path=/'], [['retry-after', '5']]), {
    kind: 'deny',
    status: 401,
    headers: [
      ['content-type', 'application/json; charset=utf-8'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
      ['content-security-policy', POLICY],
      ['retry-after', '5'],
      ['set-cookie', 's=; Max-Age=0; Path=/'],
    ],
    body: '{"afterLogoutURL":"/"}',
  })
  t.strictSame(pageReply(403, { contentType: 'text/html; charset=utf-8', body: '<p>no</p>' }), {
    kind: 'deny',
    status: 403,
    headers: [
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
      ['content-security-policy', POLICY],
    ],
    body: '<p>no</p>',
  }, 'without cookies or extra headers')
})

t.test("each answer of the service's own endpoints is a deny with its status, the cookies to set, and no-store", async (t) => {
  const respond = createResponder(KUBEFLOW)
  const verdict = (answer: LoginAnswer): LoginResult => ({ outcome: 'x', reason: 'Y', answer })
  const cases: [name: string, answer: LoginAnswer, status: number, contentType: string | undefined, body: RegExp, extra: string[]][] = [
    ['a redirect', { kind: 'redirect', location: '/dex/auth?x=1', cookies: ['f=1'] }, 302, undefined, /^$/, ['location', 'set-cookie']],
    ['a failed login', { kind: 'login-failed', status: 403, message: 'Your account <b>cannot</b> sign in.', cookies: ['f=; Max-Age=0'] }, 403, 'text/html; charset=utf-8', /cannot&lt;\/b&gt; sign in\..*id="login-again"/s, ['set-cookie']],
    ['the provider or store unavailable during a login', { kind: 'unavailable', requestKind: 'navigation', cookies: [] }, 401, 'text/html; charset=utf-8', /reloads in 5 seconds/, ['retry-after']],
    ['the store unavailable on a logout call', { kind: 'unavailable', requestKind: 'api', cookies: [] }, 401, 'application/json; charset=utf-8', /"retryAfter":5/, ['retry-after']],
    ['a logout', { kind: 'logged-out', afterLogoutUrl: '/authservice/site/after_logout', cookies: ['s=; Max-Age=0'] }, 201, 'application/json; charset=utf-8', /^\{"afterLogoutURL":"\/authservice\/site\/after_logout"\}$/, ['set-cookie']],
    ['a logout without a session', { kind: 'no-session' }, 401, 'application/json; charset=utf-8', /No session to log out of/, ['www-authenticate']],
    ['a cross-site sign-out', { kind: 'cross-site' }, 403, 'text/html; charset=utf-8', /must start from a page of this site/, []],
    ['the after-logout page', { kind: 'signed-out' }, 401, 'text/html; charset=utf-8', /You have signed out/, []],
  ]
  for (const [name, answer, status, contentType, body, extra] of cases) {
    const reply = asDeny(respond(verdict(answer)))
    t.equal(reply.status, status, `${name}: ${status}`)
    t.same(header(reply.headers, 'content-type'), contentType === undefined ? [] : [contentType], `${name}: content type`)
    t.same([header(reply.headers, 'cache-control'), header(reply.headers, 'referrer-policy')], [['no-store'], ['no-referrer']], `${name}: never cached, no referrer`)
    t.same(header(reply.headers, 'content-security-policy'), status === 302 ? [] : [POLICY], `${name}: a body has the content security policy`)
    t.match(reply.body, body, `${name}: body`)
    const names = reply.headers.map(([key]) => key).filter((key) => !['content-type', 'cache-control', 'referrer-policy', 'content-security-policy'].includes(key))
    t.same([...new Set(names)], extra, `${name}: its own headers`)
  }
})

t.test('a check that failed inside the service is a 401 with a JSON body, never a 5xx or an allow', async (t) => {
  const reply = asDeny(CHECK_FAILED_REPLY)
  t.equal(reply.status, 401)
  t.same(JSON.parse(reply.body), { error: 'unauthenticated', message: 'The request could not be checked.' })
  t.same(header(reply.headers, 'www-authenticate'), ['Bearer realm="authservice"'])
})

t.test('the user page: 203 (never 200, which Envoy forwards), no-store, never framed; the token endpoint refuses with 404 and 403', async (t) => {
  const respond = createResponder(KUBEFLOW)
  const view = { user: 'alice@example.com', email: 'alice@example.com', preferredUsername: 'alice', groups: ['team-a'], expiresAt: 0, prefix: '/oauth2/', apiToken: true }
  const verdict = (userPage: UserPageAnswer, cookies: string[] = []): UserPageResult => ({ outcome: 'user-page', reason: 'USER_INFO', userPage, cookies })
  const cases: [name: string, answer: UserPageAnswer, status: number, contentType: string, body: RegExp][] = [
    ['the page', { kind: 'user-info', format: 'html', view }, 203, 'text/html; charset=utf-8', /id="user">alice@example.com</],
    ['userinfo JSON', { kind: 'user-info', format: 'json', view }, 203, 'application/json; charset=utf-8', /^\{"user":"alice@example.com","email":"alice@example.com","groups":\["team-a"\],"preferredUsername":"alice"\}$/],
    ['the token', { kind: 'user-token', token: 'dex.id.token', expiresAt: 5_000 }, 203, 'application/json; charset=utf-8', /^\{"token":"dex.id.token","expiresAt":5000\}$/],
    ['the token endpoint off', { kind: 'no-token', message: 'off' }, 404, 'application/json; charset=utf-8', /"error":"not_found"/],
    ['the token asked cross-site', { kind: 'cross-origin' }, 403, 'application/json; charset=utf-8', /"error":"forbidden"/],
  ]
  for (const [name, answer, status, contentType, body] of cases) {
    const reply = asDeny(respond(verdict(answer, ['authservice_session=renewed'])))
    t.equal(reply.status, status, `${name}: ${status}`)
    t.same(header(reply.headers, 'content-type'), [contentType], `${name}: content type`)
    t.same(header(reply.headers, 'cache-control'), ['no-store'], `${name}: never cached`)
    t.match(header(reply.headers, 'content-security-policy'), [/frame-ancestors 'none'$/], `${name}: never framed`)
    t.match(reply.body, body, `${name}: body`)
  }
  const page = asDeny(respond(verdict({ kind: 'user-info', format: 'html', view }, ['authservice_session=renewed'])))
  t.same(header(page.headers, 'set-cookie'), ['authservice_session=renewed'], 'a renewed session cookie goes back with the page')
  t.match(header(page.headers, 'content-security-policy'), [/script-src 'sha256-[A-Za-z0-9+/]+='; connect-src 'self'/], "the page's script by hash, fetch to this origin only")
})
