/** Decision → the answer Envoy acts on: allow with identity headers, or a 401/403 deny the client sees. */
import t from 'tap'
import type { Decision } from '../../../src/authz/decision.js'
import type { Identity } from '../../../src/authz/identity.js'
import { createReplyBuilder, type CheckReply, type HeaderList, type ReplyOptions } from '../../../src/authz/reply.js'

const KUBEFLOW: ReplyOptions = {
  userIdHeader: 'kubeflow-userid',
  groupsHeader: 'kubeflow-groups',
  setAuthorizationHeader: false,
  retryAfterSeconds: 5,
}

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
  const reply = asAllow(createReplyBuilder(KUBEFLOW)(allow()))
  t.same(reply.upstreamHeaders, [
    ['kubeflow-userid', 'alice@example.com'],
    ['kubeflow-groups', 'team-a,team-b'],
  ])
  t.same(reply.removeHeaders, [])
  t.same(reply.responseHeaders, [])
})

t.test('USERID_HEADER and GROUPS_HEADER name the identity headers', async (t) => {
  const reply = asAllow(createReplyBuilder({ ...KUBEFLOW, userIdHeader: 'x-user', groupsHeader: 'x-groups' })(allow()))
  t.same(reply.upstreamHeaders, [
    ['x-user', 'alice@example.com'],
    ['x-groups', 'team-a,team-b'],
  ])
})

t.test('a user without groups gets no groups header, and a client-sent one is removed', async (t) => {
  const reply = asAllow(createReplyBuilder(KUBEFLOW)(allow(identity({ groups: [] }))))
  t.same(reply.upstreamHeaders, [['kubeflow-userid', 'alice@example.com']])
  t.same(reply.removeHeaders, ['kubeflow-groups'])
})

t.test('SET_AUTHORIZATION_HEADER', async (t) => {
  const cases: [name: string, on: boolean, idToken: string | undefined, expected: string[]][] = [
    ['on: the Dex ID token is forwarded as a bearer token', true, 'dex.id.token', ['Bearer dex.id.token']],
    ['on: an extra-issuer identity (no Dex token) sets no authorization', true, undefined, []],
    ['off: the Dex ID token is not forwarded', false, 'dex.id.token', []],
  ]
  for (const [name, setAuthorizationHeader, idToken, expected] of cases) {
    const reply = asAllow(createReplyBuilder({ ...KUBEFLOW, setAuthorizationHeader })(allow(identity({ idToken }))))
    t.same(header(reply.upstreamHeaders, 'authorization'), expected, name)
    t.notOk(reply.removeHeaders.includes('authorization'), `${name}: the client's authorization is not removed`)
  }
})

t.test('a client-sent kubeflow-userid and kubeflow-groups are removed on skip paths', async (t) => {
  const reply = asAllow(createReplyBuilder(KUBEFLOW)({ outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' }))
  t.same(reply.upstreamHeaders, [], 'no identity is asserted on a skip path')
  t.same([...reply.removeHeaders].sort(), ['kubeflow-groups', 'kubeflow-userid'])
  t.same(reply.responseHeaders, [])
})

t.test('an allow answer never lists a header to remove that it also sets', async (t) => {
  const build = createReplyBuilder({ ...KUBEFLOW, setAuthorizationHeader: true })
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
  const build = createReplyBuilder(KUBEFLOW)
  for (const [name, decision, status, challenge] of denials) {
    const reply = asDeny(build(decision))
    t.equal(reply.status, status, `${name}: status`)
    t.same(header(reply.headers, 'cache-control'), ['no-store'], `${name}: never cached`)
    t.same(header(reply.headers, 'referrer-policy'), ['no-referrer'], `${name}: no referrer`)
    t.same(header(reply.headers, 'www-authenticate'), challenge === undefined ? [] : [challenge], `${name}: challenge`)
    t.equal(header(reply.headers, 'content-type').length, 1, `${name}: one content type`)
    t.notOk(header(reply.headers, 'kubeflow-userid').length, `${name}: no identity header on a deny`)
  }
})

t.test('an unavailable provider tells the client when to retry, in the header and the page', async (t) => {
  for (const kind of ['api', 'navigation'] as const) {
    const reply = asDeny(createReplyBuilder({ ...KUBEFLOW, retryAfterSeconds: 7 })({ outcome: 'unavailable', kind, reason: 'PROVIDER_UNAVAILABLE' }))
    t.same(header(reply.headers, 'retry-after'), ['7'], `${kind}: Retry-After`)
    t.match(reply.body, /7/, `${kind}: body names the delay`)
  }
  const other = asDeny(createReplyBuilder(KUBEFLOW)({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }))
  t.same(header(other.headers, 'retry-after'), [], 'other denials carry no Retry-After')
})

t.test('an API call is denied with JSON, a browser navigation with an HTML page', async (t) => {
  const build = createReplyBuilder(KUBEFLOW)
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
  const build = createReplyBuilder(KUBEFLOW)
  const cookies = ['authservice_session.1=aaa; Max-Age=60; Path=/; HttpOnly; SameSite=Lax', 'authservice_session.2=bbb; Max-Age=60; Path=/; HttpOnly; SameSite=Lax']
  const reply = asAllow(build(allow(), { setCookies: cookies }))
  t.same(reply.responseHeaders, cookies.map((cookie) => ['set-cookie', cookie]))
  t.same(header(reply.upstreamHeaders, 'set-cookie'), [], 'the cookie goes to the client, not the upstream')
  t.same(asAllow(build(allow(), {})).responseHeaders, [], 'extras without cookies add nothing')
  t.same(asAllow(build(allow(), { setCookies: [] })).responseHeaders, [], 'an empty cookie list adds nothing')
})

t.test('a deny never carries the cookies meant for an allow', async (t) => {
  const build = createReplyBuilder(KUBEFLOW)
  const reply = asDeny(build({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }, { setCookies: ['authservice_session=x'] }))
  t.same(header(reply.headers, 'set-cookie'), [])
})

t.test('a login decision without a login handler falls back to the 401 sign-in page', async (t) => {
  const build = createReplyBuilder(KUBEFLOW)
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
  const reply = asDeny(createReplyBuilder(KUBEFLOW)({ outcome: 'unavailable', kind: 'api', reason: 'SESSION_STORE_UNAVAILABLE' }))
  t.equal(reply.status, 401)
  t.same(header(reply.headers, 'retry-after'), ['5'])
})
