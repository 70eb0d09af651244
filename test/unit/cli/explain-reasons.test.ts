// The explanation of a replayed check, as data: verdict, skip rule, request kind, credentials,
// policy, the answer Envoy gets; credentials only as fingerprints, Set-Cookie values left out.
import t from 'tap'
import type { ReplayedCheck } from '../../../src/check/handle.js'
import type { Decision } from '../../../src/check/decision.js'
import type { CheckResult } from '../../../src/check/pipeline.js'
import { createResponder } from '../../../src/check/respond.js'
import { credentialFingerprint } from '../../../src/check/fingerprint.js'
import type { Config } from '../../../src/config/types.js'
import type { ExplainInput } from '../../../src/cli/explain-input.js'
import { exitCodeOf, explain, shownRequestHeaders, shownTarget, type ReasonsContext } from '../../../src/cli/explain-reasons.js'
import { kubeflowConfig } from '../../fixtures/config.js'

const config = kubeflowConfig({ skipAuthUrls: ['/dex', '/public'], groupsAllowlist: ['team-a'], allowedEmailDomains: ['example.com'] })
const context = (overrides: Partial<ReasonsContext> = {}): ReasonsContext => ({ config, nowMs: 1_750_000_000_000, jwksUri: undefined, providerReady: true, ...overrides })
const ALICE = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token' }
const input = (headers: Record<string, string> = {}, target = '/jupyter/'): ExplainInput => ({ method: 'GET', target, headers, json: false })

function replayed(decision: Decision, result: Partial<CheckResult> = {}, cfg: Config = config, setCookies?: string[]): ReplayedCheck {
  const respond = createResponder({ userIdHeader: cfg.userIdHeader, groupsHeader: cfg.groupsHeader, setAuthorizationHeader: cfg.setAuthorizationHeader, setXAuthRequest: false, retryAfterSeconds: 5 })
  const full: CheckResult = { decision, path: '/jupyter/', trace: [], why: { ambiguousPath: false }, ...result }
  return { verdict: decision, result: full, reply: respond(decision, setCookies ? { setCookies } : undefined) }
}

t.test('an allow: the identity, the policy, the headers set and removed, the renewed cookie without its value', async (t) => {
  const cfg = { ...config, setAuthorizationHeader: true }
  const decision: Decision = { outcome: 'allow', kind: 'navigation', reason: 'CREDENTIAL_VALID', identity: ALICE, via: 'session-cookie' }
  const trace = [{ source: 'session-cookie' as const, fingerprint: '0a1b2c3d', result: { status: 'valid' as const, identity: ALICE } }]
  const explanation = explain(input({ cookie: 'authservice_session=TICKET' }), replayed(decision, { trace }, cfg, ['authservice_session=NEW-TICKET; Max-Age=60; Path=/']), context({ config: cfg }))
  t.same(explanation.verdict, { outcome: 'allow', reason: 'CREDENTIAL_VALID', codes: [], user: 'alice@example.com' })
  t.same(explanation.identity, { user: 'alice@example.com', email: 'alice@example.com', groups: ['team-a'] })
  t.same(explanation.credentials, [{ source: 'session-cookie', fingerprint: '0a1b2c3d', status: 'valid', why: 'establishes alice@example.com' }])
  t.equal(explanation.policy.result, 'allowed')
  t.same(explanation.skip, { rules: ['/dex', '/public'], ambiguous: false, hints: [] })
  t.match(explanation.kind, { kind: 'navigation', because: /^navigation: a GET or HEAD without any API signal/ })
  t.same(explanation.answer, {
    status: 200,
    forwarded: true,
    headers: [['kubeflow-userid', 'alice@example.com'], ['kubeflow-groups', 'team-a'], ['authorization', `Bearer <sha256 ${credentialFingerprint('dex.id.token')}>`]],
    removed: ['x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username'],
    responseHeaders: [['set-cookie', 'authservice_session=<not shown>; Max-Age=60; Path=/']],
  })
  t.same(explanation.request.headers, [['cookie', `authservice_session=<sha256 ${credentialFingerprint('TICKET')}>`]])
  t.equal(explanation.exitCode, 0)
  t.notMatch(JSON.stringify(explanation), /TICKET"|dex\.id\.token|NEW-TICKET/, 'no credential anywhere')
})

t.test('denials: the policy, the reason codes, where a login goes', async (t) => {
  const group = explain(input(), replayed({ outcome: 'forbidden', kind: 'api', reason: 'GROUP_NOT_ALLOWED', identity: { ...ALICE, email: undefined, groups: [] } }), context())
  t.equal(group.policy.result, "denied: none of the user's groups is in GROUPS_ALLOWLIST (team-a)")
  t.same(group.identity, { user: 'alice@example.com', groups: [] })
  t.match(group, { answer: { status: 403, forwarded: false }, exitCode: 1 })
  const domain = explain(input(), replayed({ outcome: 'forbidden', kind: 'api', reason: 'EMAIL_DOMAIN_NOT_ALLOWED', identity: ALICE }), context())
  t.equal(domain.policy.result, 'denied: no email, or its domain is not in ALLOWED_EMAIL_DOMAINS (example.com)')
  const serviceAccount = explain(input(), replayed({ outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity: { ...ALICE, email: undefined, emailDomains: 'skip', codes: ['ERR_GROUP_NAME_INVALID'] }, via: 'kubernetes' }), context())
  t.equal(serviceAccount.policy.result, 'allowed (by groups alone: ALLOWED_EMAIL_DOMAINS does not govern this identity)')
  t.same(serviceAccount.verdict.codes, ['ERR_GROUP_NAME_INVALID'], 'what was set aside in the identity, as the decision line says')
  const noDomains = explain(input(), replayed({ outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity: { ...ALICE, emailDomains: 'skip' }, via: 'kubernetes' }, {}, { ...config, allowedEmailDomains: [] }), context({ config: { ...config, allowedEmailDomains: [] } }))
  t.equal(noDomains.policy.result, 'allowed')

  const loginReply: ReplayedCheck = {
    verdict: { outcome: 'login', reason: 'LOGIN_REQUIRED', codes: ['ERR_SESSION_INVALID'], answer: { kind: 'redirect', location: 'https://dex/auth?state=s', cookies: [] } },
    result: { decision: { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: ['ERR_SESSION_INVALID'] }, path: '/jupyter/' },
    reply: { kind: 'deny', status: 302, headers: [['location', 'https://dex/auth?state=s'], ['set-cookie', 'authservice_session=; Max-Age=0; Path=/'], ['set-cookie', 'oidc_state_s=SEALED']], body: '' },
  }
  const login = explain(input({ authorization: 'abc' }), loginReply, context({ providerReady: false }))
  t.same(login.verdict, { outcome: 'login', reason: 'LOGIN_REQUIRED', codes: ['ERR_SESSION_INVALID'] })
  t.same(login.answer, { status: 302, forwarded: false, location: 'https://dex/auth?state=s', removed: [], responseHeaders: [], headers: [['location', 'https://dex/auth?state=s'], ['set-cookie', 'authservice_session=; Max-Age=0; Path=/'], ['set-cookie', 'oidc_state_s=<not shown>']] })
  t.same(login.credentials, [], 'a result without a trace: nothing tried')
  t.same(login.skip, { rules: ['/dex', '/public'], ambiguous: false, hints: [] }, 'a result without why: nothing matched')
  t.match(login.notes, [/could not be reached/])
  t.same(login.request.headers, [['authorization', `<sha256 ${credentialFingerprint('abc')}>`]], 'a credential without a scheme')

  const noCodes: ReplayedCheck = { ...loginReply, verdict: { outcome: 'login', reason: 'LOGIN_REQUIRED', answer: { kind: 'redirect', location: '/x', cookies: [] } } }
  t.same(explain(input(), noCodes, context()).verdict.codes, [])
})

t.test('the request kind and skip path, as the pipeline saw them', async (t) => {
  const route = explain(input({}, '/pipeline/apis/v2beta1/runs'), replayed({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }, { path: '/pipeline/apis/v2beta1/runs', why: { kindSignal: 'api-route', ambiguousPath: false } }), context())
  t.match(route.kind, { kind: 'api', signal: 'api-route', because: /the path matches API_ROUTES \(.+\)/ })
  t.match(route.answer, { status: 401 })
  const xhr = explain(input({ 'sec-fetch-mode': 'cors', 'x-auth-token': 'Bearer t' }), replayed({ outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }, { why: { kindSignal: 'sec-fetch-mode', ambiguousPath: true } }), context())
  t.match(xhr, { kind: { signal: 'sec-fetch-mode', because: /^XHR\/fetch/ }, skip: { ambiguous: true } })
  t.same(xhr.request.headers, [['sec-fetch-mode', 'cors'], ['x-auth-token', `Bearer <sha256 ${credentialFingerprint('t')}>`]])
  const skip = explain(input({}, '/public/a'), replayed({ outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' }, { why: { skipRule: '/public', ambiguousPath: false } }), context())
  t.match(skip, { skip: { rule: '/public', hints: [] }, answer: { status: 200, forwarded: true, headers: [] }, exitCode: 0 })
  t.ok(skip.answer!.removed.includes('kubeflow-userid'), 'a skip path removes client-sent identity headers')
  t.equal(skip.policy.result, 'not reached: no identity established')
  const unavailable = explain(input(), replayed({ outcome: 'unavailable', kind: 'api', reason: 'PROVIDER_UNAVAILABLE' }), context())
  t.equal(unavailable.exitCode, 3)
})

t.test("authservice's own endpoints are named, not replayed", async (t) => {
  const explanation = explain(input(), { endpoint: 'logout', path: '/authservice/logout' }, context({ providerReady: false }))
  t.match(explanation, { verdict: { outcome: 'endpoint', reason: 'LOGOUT' }, endpoint: 'logout', exitCode: 1, credentials: [] })
  t.equal(explanation.notes.length, 2)
  t.same(explain(input(), { endpoint: 'callback', path: '/authservice/oidc/callback' }, context()).notes.length, 1)
})

t.test('exit codes and header masking', async (t) => {
  t.same(['allow', 'skip', 'forbidden', 'unauthenticated', 'login', 'unavailable', 'callback-failed'].map(exitCodeOf), [0, 0, 1, 1, 1, 3, 1])
  t.same(shownRequestHeaders({ host: 'h', cookie: 'junk', 'proxy-authorization': 'Basic x' }, config), [['host', 'h'], ['cookie', ''], ['proxy-authorization', `Basic <sha256 ${credentialFingerprint('x')}>`]])
})

t.test('a query is shown by its names only (it can hold a code or a token)', async (t) => {
  t.equal(shownTarget('/authservice/oidc/callback?code=SECRET&state=s'), '/authservice/oidc/callback?code=…&state=…')
  t.equal(shownTarget('/x?flag'), '/x?flag=…')
  t.equal(shownTarget('/x'), '/x')
  const explanation = explain(input({}, '/authservice/oidc/callback?code=SECRET'), { endpoint: 'callback', path: '/authservice/oidc/callback' }, context())
  t.equal(explanation.request.target, '/authservice/oidc/callback?code=…')
})

t.test('a path believed skipped: the near miss named', async (t) => {
  const dotted = explain(input({}, '/public/../pipeline/?x=1'), replayed({ outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: [] }, { path: '/pipeline/' }), context())
  t.same(dotted.skip?.hints, ['the path as sent starts with /public, but normalised (RFC 3986: dot segments removed, unreserved characters decoded) it is /pipeline/'])
})
