/** The check pipeline: path → skip or not, API or navigation, credentials → verifier → decision. */
import t from 'tap'
import type { JWTPayload } from 'jose'
import type { Config } from '../../../src/config/types.js'
import { kubeflowConfig } from '../../fixtures/config.js'
import { ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { TokenVerifier, VerifiedToken } from '../../../src/oidc/token-verifier.js'
import type { Session } from '../../../src/session/session.js'
import type { SessionAuthenticator, SessionOutcome } from '../../../src/session/session-auth.js'
import { createChecker, type CheckRequest, type CheckerDependencies } from '../../../src/check/pipeline.js'
import { credentialFingerprint } from '../../../src/check/fingerprint.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'

/** Kubeflow's settings, as the loader makes them, plus what these tests rely on. */
const config = (overrides: Partial<Config> = {}): Config => kubeflowConfig({ scopes: ['openid', 'email', 'groups', 'profile', 'offline_access'], ...overrides })

const ALICE: JWTPayload = { iss: ISSUER, sub: 'CgVhbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] }

/** A JWT-shaped bearer (three base64url parts), which is never taken for a session ticket. */
const DEX_JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJDZ1ZoYkdsalpRIn0.c2lnbmF0dXJl'
/** A JWT-shaped bearer whose keys cannot be fetched. */
const NO_KEYS_JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsyIn0.eyJzdWIiOiJDZ1ZoYkdsalpRIn0.c2lnbmF0dXJl'

function verified(token: string, claims: JWTPayload, primary = true): VerifiedToken {
  return { token, issuer: String(claims.iss), primary, claims, expiresAtMs: Date.now() + 60_000 }
}

/** A verifier that answers from a table: a VerifiedToken, a refusal, or another error to throw. Unknown tokens are malformed. */
function stubVerifier(table: Record<string, VerifiedToken | Error>): TokenVerifier & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    async check(token) {
      seen.push(token)
      const entry = table[token]
      if (entry === undefined) return new TokenRejectedError('ERR_TOKEN_MALFORMED', 'token is not a JWT')
      if (entry instanceof TokenRejectedError) return entry
      if (entry instanceof Error) throw entry
      return entry
    },
  }
}

const TABLE = {
  'alice.jwt': verified('alice.jwt', ALICE),
  'expired.jwt': new TokenRejectedError('ERR_TOKEN_EXPIRED', 'token expired', { claim: 'exp' }),
  'bad-signature.jwt': new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid'),
  'no-keys.jwt': new ProviderUnavailableError(),
  [NO_KEYS_JWT]: new ProviderUnavailableError(),
  'no-email.jwt': verified('no-email.jwt', { iss: ISSUER, sub: 'x', groups: ['team-a'] }),
  [DEX_JWT]: verified(DEX_JWT, ALICE),
  'ci.jwt': verified('ci.jwt', { iss: 'https://ci.example.com', sub: 'robot-7', email: 'admin@example.com', email_verified: true }, false),
}

function checker(overrides: Partial<Config> = {}, deps: Partial<CheckerDependencies> = {}) {
  const verifier = stubVerifier(TABLE)
  const check = createChecker({ config: config(overrides), verifier, providerReady: () => true, ...deps })
  return { check, verifier }
}

const get = (target: string, headers: CheckRequest['headers'] = {}): CheckRequest => ({ method: 'GET', target, headers })
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('a valid Dex token is allowed as its email, with its groups and the ID token', async (t) => {
  const { check, verifier } = checker()
  const result = await check(get('/jupyter/', bearer('alice.jwt')))
  t.same(result.decision, {
    outcome: 'allow',
    // Whoever sends a bearer token is a program: browsers never send one on a navigation.
    kind: 'api',
    reason: 'CREDENTIAL_VALID',
    identity: { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'alice.jwt' },
    via: 'authorization',
  })
  t.same(verifier.seen, ['alice.jwt'])
})

t.test('skip paths are answered without verifying any credential', async (t) => {
  const cases: [name: string, overrides: Partial<Config>, target: string][] = [
    ['SKIP_AUTH_URLS matches its prefix', {}, '/dex/auth?client_id=x'],
    ['SKIP_AUTH_URLS matches the entry itself', {}, '/dex'],
    ['CHECK_PATH_PREFIX (Envoy path_prefix) is stripped before matching', { checkPathPrefix: '/ext-authz' }, '/ext-authz/dex/auth'],
  ]
  for (const [name, overrides, target] of cases) {
    const { check, verifier } = checker(overrides)
    const result = await check(get(target, bearer('expired.jwt')))
    t.equal(result.decision.outcome, 'skip', name)
    t.same(verifier.seen, [], `${name}: no credential verified`)
  }
})

t.test('a path the caller already normalised decides the answer (the target is not parsed again)', async (t) => {
  const { check } = checker()
  const result = await check({ ...get('/ignored/because/normalized/is/given'), normalized: { path: '/dex/auth', ambiguous: false } })
  t.equal(result.decision.outcome, 'skip')
  t.equal(result.path, '/dex/auth')
})

t.test('paths that only look like skip paths are checked (a navigation goes to the login, an API call gets 401)', async (t) => {
  const cases: [name: string, overrides: Partial<Config>, target: string, outcome: string][] = [
    ['a prefix match must end on a segment boundary', {}, '/dexfoo', 'login'],
    ['dot segments are resolved before matching', {}, '/dex/../api/v1/secrets', 'unauthenticated'],
    ['encoded dot segments are resolved too', {}, '/dex/%2e%2e/notebooks', 'login'],
    ['an encoded slash never matches a skip path', {}, '/dex%2F..%2Fnotebooks', 'login'],
    ['a servlet ..; segment never matches a skip path', {}, '/dex/..;/notebooks', 'login'],
    ['the query string cannot make a path a skip path', {}, '/notebooks?/dex', 'login'],
    ['a path without CHECK_PATH_PREFIX is not stripped', { checkPathPrefix: '/ext-authz' }, '/jupyter/', 'login'],
    ['an absolute AUTHSERVICE_URL_PREFIX does not skip its host part', { urlPrefix: 'https://kubeflow.example.com/login/' }, '/authservice/x', 'login'],
    ['a path under AUTHSERVICE_URL_PREFIX that is not an endpoint is checked like any other', {}, '/authservice/site/themes/x.css', 'login'],
    ['so is the prefix itself', {}, '/authservice/', 'login'],
    ['and under an absolute prefix, its path', { urlPrefix: 'https://kubeflow.example.com/login/' }, '/login/x', 'login'],
  ]
  for (const [name, overrides, target, outcome] of cases) {
    const { check } = checker(overrides)
    const result = await check(get(target))
    t.equal(result.decision.outcome, outcome, name)
  }
})

t.test('the reported path is normalised and never carries the query string', async (t) => {
  const cases: [name: string, overrides: Partial<Config>, target: string, path: string][] = [
    ['the query (an OAuth code) is dropped', {}, '/notebooks?code=SECRET&state=S', '/notebooks'],
    ['dot segments are resolved', {}, '/a/./b/../c', '/a/c'],
    ['CHECK_PATH_PREFIX is removed', { checkPathPrefix: '/ext-authz' }, '/ext-authz/jupyter/?x=1', '/jupyter/'],
    ['a target that is exactly CHECK_PATH_PREFIX is the root', { checkPathPrefix: '/ext-authz' }, '/ext-authz', '/'],
  ]
  for (const [name, overrides, target, path] of cases) {
    const { check } = checker(overrides)
    t.equal((await check(get(target))).path, path, name)
  }
})

t.test('API calls and browser navigations are told apart', async (t) => {
  const cases: [name: string, request: CheckRequest, kind: string][] = [
    ['a bare GET is a navigation', get('/'), 'navigation'],
    ['an API_ROUTES path is an API call', get('/api/workgroup/env-info'), 'api'],
    ['an API_ROUTES path behind CHECK_PATH_PREFIX is an API call', get('/ext-authz/apis/v1beta1/x'), 'api'],
    ['a POST is an API call', { method: 'POST', target: '/jupyter/', headers: {} }, 'api'],
    ['an XHR is an API call', get('/jupyter/', { 'x-requested-with': 'XMLHttpRequest' }), 'api'],
  ]
  for (const [name, request, kind] of cases) {
    const { check } = checker({ checkPathPrefix: '/ext-authz' })
    t.equal((await check(request)).decision.kind, kind, name)
  }
})

t.test('credentials', async (t) => {
  t.test('a browser navigation without a credential is sent to the login', async (t) => {
    const { check } = checker()
    t.same((await check(get('/jupyter/'))).decision, { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: [] })
  })

  t.test('an API call without a credential is answered 401 NO_CREDENTIAL, never a login redirect', async (t) => {
    const { check } = checker()
    t.same((await check(get('/api/workgroup/env-info'))).decision, { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] })
    const xhr = await check(get('/jupyter/api/sessions', { 'x-requested-with': 'XMLHttpRequest' }))
    t.same(xhr.decision, { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }, 'an XHR too')
  })

  t.test('a navigation with a refused credential is sent to the login, keeping the code for the log', async (t) => {
    const { check } = checker({ idTokenCookie: 'id_token' })
    t.same((await check(get('/jupyter/', { cookie: 'id_token=expired.jwt' }))).decision, {
      outcome: 'login',
      kind: 'navigation',
      reason: 'LOGIN_REQUIRED',
      codes: ['ERR_TOKEN_EXPIRED'],
    })
  })

  t.test('a refused bearer token on a page path is a 401 invalid_token, never a login redirect (curl, SDKs)', async (t) => {
    const { check } = checker()
    t.same((await check(get('/pipeline/apis/v2beta1/runs', bearer('expired.jwt')))).decision, {
      outcome: 'unauthenticated',
      kind: 'api',
      reason: 'CREDENTIAL_REJECTED',
      codes: ['ERR_TOKEN_EXPIRED'],
    })
    t.match((await check(get('/jupyter/', bearer('garbage')))).decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED' })
  })

  t.test('a refused token is answered 401 with its code', async (t) => {
    const { check } = checker()
    t.same((await check(get('/api/x', bearer('expired.jwt')))).decision, {
      outcome: 'unauthenticated',
      kind: 'api',
      reason: 'CREDENTIAL_REJECTED',
      codes: ['ERR_TOKEN_EXPIRED'],
    })
  })

  t.test('a refused Authorization token does not hide a valid ID token cookie', async (t) => {
    const { check, verifier } = checker({ idTokenCookie: 'id_token' })
    const result = await check(get('/jupyter/', { authorization: 'Bearer expired.jwt', cookie: 'a=b; id_token=alice.jwt' }))
    t.equal(result.decision.outcome, 'allow')
    t.equal(result.decision.outcome === 'allow' && result.decision.via, 'id-token-cookie')
    t.same(verifier.seen, ['expired.jwt', 'alice.jwt'])
  })

  t.test('the first valid credential wins and later ones are not verified', async (t) => {
    const { check, verifier } = checker({ idTokenHeader: 'x-id-token', idTokenCookie: 'id_token' })
    const result = await check(get('/', { 'x-id-token': 'alice.jwt', cookie: 'id_token=expired.jwt' }))
    t.equal(result.decision.outcome === 'allow' && result.decision.via, 'id-token-header')
    t.same(verifier.seen, ['alice.jwt'])
  })

  t.test('when every credential is refused, every code is reported in order', async (t) => {
    const { check } = checker({ idTokenHeader: 'x-id-token', idTokenCookie: 'id_token' })
    const result = await check(get('/api/x', { authorization: 'Bearer expired.jwt', 'x-id-token': 'bad-signature.jwt', cookie: 'id_token=junk' }))
    t.equal(result.decision.outcome, 'unauthenticated')
    t.same('codes' in result.decision && result.decision.codes, [
      'ERR_TOKEN_EXPIRED',
      'ERR_TOKEN_SIGNATURE_INVALID',
      'ERR_TOKEN_MALFORMED',
    ])
  })

  t.test('a verified token without the USERID_CLAIM is refused', async (t) => {
    const { check } = checker()
    const result = await check(get('/', bearer('no-email.jwt')))
    t.same(result.decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_IDENTITY_CLAIM_MISSING'] })
  })

  t.test('identity settings from the config shape the identity', async (t) => {
    const { check } = checker({
      userIdPrefix: 'kf:',
      userIdTransformers: [{ matches: /@example\.com$/g, replaces: '' }],
      groupsAllowlist: ['team-a'],
    })
    const result = await check(get('/', bearer('alice.jwt')))
    t.equal(result.decision.outcome === 'allow' && result.decision.identity.userId, 'kf:alice')
  })

  t.test('an extra issuer\'s token is allowed by its sub, never the email it asserts (EXTRA_JWT_ISSUER_RULES defaults)', async (t) => {
    const { check } = checker()
    const result = await check(get('/apis/v2beta1/runs', bearer('ci.jwt')))
    t.match(result.decision, { outcome: 'allow', kind: 'api', identity: { userId: 'robot-7', idToken: undefined } })
  })
})

t.test('authorization policy', async (t) => {
  t.test('a user outside GROUPS_ALLOWLIST is refused with 403', async (t) => {
    const { check } = checker({ groupsAllowlist: ['admins'] })
    t.match((await check(get('/', bearer('alice.jwt')))).decision, { outcome: 'forbidden', reason: 'GROUP_NOT_ALLOWED' })
  })
  t.test('a user outside ALLOWED_EMAIL_DOMAINS is refused with 403', async (t) => {
    const { check } = checker({ allowedEmailDomains: ['corp.example'] })
    t.match((await check(get('/', bearer('alice.jwt')))).decision, { outcome: 'forbidden', reason: 'EMAIL_DOMAIN_NOT_ALLOWED' })
  })
})

t.test('the identity provider', async (t) => {
  t.test('keys that cannot be fetched make the answer "unavailable", not "invalid token"', async (t) => {
    const { check } = checker({ idTokenCookie: 'id_token' })
    const result = await check(get('/', { authorization: 'Bearer expired.jwt', cookie: 'id_token=no-keys.jwt' }))
    t.same(result.decision, { outcome: 'unavailable', kind: 'api', reason: 'PROVIDER_UNAVAILABLE' })
  })

  t.test('another credential that verifies still gets in while keys are unavailable', async (t) => {
    const { check } = checker({ idTokenCookie: 'id_token' })
    const result = await check(get('/', { authorization: 'Bearer no-keys.jwt', cookie: 'id_token=alice.jwt' }))
    t.equal(result.decision.outcome, 'allow')
  })

  t.test('before discovery finished, a request without a credential is told to retry', async (t) => {
    const { check } = checker({}, { providerReady: () => false })
    t.equal((await check(get('/'))).decision.outcome, 'unavailable')
  })

  t.test('before discovery finished, an extra issuer\'s token still verifies', async (t) => {
    const { check } = checker({}, { providerReady: () => false })
    t.equal((await check(get('/', bearer('ci.jwt')))).decision.outcome, 'allow')
  })

  t.test('skip paths are answered even while the provider is down', async (t) => {
    const { check } = checker({}, { providerReady: () => false })
    t.equal((await check(get('/dex/auth'))).decision.outcome, 'skip')
  })
})

t.test('a verifier bug fails closed and is reported', async (t) => {
  const bug = new TypeError('cannot read properties of undefined')
  const seen: unknown[] = []
  const verifier: TokenVerifier = {
    async check() {
      throw bug
    },
  }
  const check = createChecker({ config: config(), verifier, providerReady: () => true, onUnexpectedError: (error) => seen.push(error) })
  const result = await check(get('/api/x', bearer('alice.jwt')))
  t.same(result.decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_MALFORMED'] })
  t.same(seen, [bug], 'the unexpected error is handed to onUnexpectedError')

  const silent = createChecker({ config: config(), verifier, providerReady: () => true })
  t.match((await silent(get('/', bearer('alice.jwt')))).decision, { outcome: 'unauthenticated', codes: ['ERR_TOKEN_MALFORMED'] }, 'without a reporter it still fails closed')
})

t.test('sessions', async (t) => {
  const TICKET = 'qY3v8Xr0Lw2bN5kD7hT1sF4gJ6mP9cZ0aE2uR8oI3yW'
  const RENEWED = 'Rn8Wq2vX5Lb0Yk3Dj6Tg9Fs1Hm4Pc7Za0Eu2Ro8Iy3'
  const EXPIRES_AT = 1_750_086_400_000

  function session(overrides: Partial<Session> = {}): Session {
    return {
      id: 'session-id',
      claims: { iss: ISSUER, sub: 'CgVhbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] },
      idToken: 'dex.session.id-token',
      refreshToken: 'dex-refresh-token',
      idTokenExpiresAt: 1_750_000_600_000,
      createdAt: 1_750_000_000_000,
      expiresAt: EXPIRES_AT,
      ...overrides,
    }
  }

  const valid = (renewed = false, s: Session = session()): SessionOutcome => ({ status: 'valid', session: s, ticket: renewed ? RENEWED : TICKET, renewed })

  /** A session authenticator answering from a table (unknown tickets have no session), recording what it was asked. */
  function stubSessions(table: Record<string, SessionOutcome>): { sessions: SessionAuthenticator; seen: string[] } {
    const seen: string[] = []
    const sessions: SessionAuthenticator = async (ticket) => {
      seen.push(ticket)
      return table[ticket] ?? { status: 'none' }
    }
    return { sessions, seen }
  }

  function withSessions(table: Record<string, SessionOutcome>, overrides: Partial<Config> = {}, deps: Partial<CheckerDependencies> = {}) {
    const stub = stubSessions(table)
    const { check, verifier } = checker(overrides, { sessions: stub.sessions, ...deps })
    return { check, verifier, seen: stub.seen }
  }

  const cookie = (ticket: string) => ({ cookie: `other=1; authservice_session=${ticket}` })

  t.test('a valid session in the authservice_session cookie is allowed as its user, with the session\'s ID token', async (t) => {
    const { check, verifier, seen } = withSessions({ [TICKET]: valid() })
    const result = await check(get('/jupyter/', cookie(TICKET)))
    const { expiresAt, idTokenExpiresAt } = session()
    t.same(result.decision, {
      outcome: 'allow',
      kind: 'navigation',
      reason: 'CREDENTIAL_VALID',
      identity: { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.session.id-token', expiresAt, idTokenExpiresAt },
      via: 'session-cookie',
    })
    t.same(seen, [TICKET])
    t.same(verifier.seen, [], 'the cookie is not a JWT to verify')
    t.notOk('renewedTicket' in result || 'sessionEnded' in result, 'nothing to send back')
  })

  t.test('a session value sent as Authorization: Bearer (Kubeflow Pipelines SDK) is allowed and never handed to the JWT verifier', async (t) => {
    const { check, verifier, seen } = withSessions({ [TICKET]: valid() })
    const result = await check(get('/apis/v2beta1/runs', bearer(TICKET)))
    t.match(result.decision, { outcome: 'allow', kind: 'api', via: 'session-header', identity: { userId: 'alice@example.com' } })
    t.same(seen, [TICKET])
    t.same(verifier.seen, [])
  })

  t.test('AUTH_HEADER names the header that may carry a bare session value', async (t) => {
    const { check } = withSessions({ [TICKET]: valid() }, { authHeader: 'x-auth-token' })
    t.match((await check(get('/api/x', { 'x-auth-token': TICKET }))).decision, { outcome: 'allow', via: 'session-header' })
  })

  t.test('a JWT-shaped bearer goes to the JWT verifier, not to the session store', async (t) => {
    const { check, verifier, seen } = withSessions({})
    const result = await check(get('/jupyter/', bearer(DEX_JWT)))
    t.match(result.decision, { outcome: 'allow', via: 'authorization' })
    t.same(verifier.seen, [DEX_JWT])
    t.same(seen, [], 'no session lookup for a JWT')
  })

  t.test('a valid bearer JWT wins: the session cookie is not even looked up', async (t) => {
    const { check, seen } = withSessions({ [TICKET]: valid() })
    const result = await check(get('/jupyter/', { ...bearer(DEX_JWT), ...cookie(TICKET) }))
    t.match(result.decision, { outcome: 'allow', via: 'authorization' })
    t.same(seen, [])
  })

  t.test('a refreshed session is sent back as a new cookie, with its session end, only when it came in the cookie', async (t) => {
    const { check } = withSessions({ [TICKET]: valid(true) })
    const viaCookie = await check(get('/jupyter/', cookie(TICKET)))
    t.match(viaCookie.decision, { outcome: 'allow', via: 'session-cookie' })
    t.equal(viaCookie.renewedTicket, RENEWED)
    t.equal(viaCookie.renewedExpiresAt, EXPIRES_AT)

    const viaHeader = await check(get('/api/x', bearer(TICKET)))
    t.match(viaHeader.decision, { outcome: 'allow', via: 'session-header' })
    t.notOk('renewedTicket' in viaHeader, 'a header client gets no cookie it never asked for')
    t.notOk('renewedExpiresAt' in viaHeader)
  })

  t.test('an ended session is reported so its cookie is cleared; a navigation logs in again, an API call gets 401', async (t) => {
    const ended: SessionOutcome = { status: 'ended', code: 'ERR_REFRESH_REJECTED' }
    const { check } = withSessions({ [TICKET]: ended })
    const navigation = await check(get('/jupyter/', cookie(TICKET)))
    t.same(navigation.decision, { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: ['ERR_REFRESH_REJECTED'] })
    t.equal(navigation.sessionEnded, true)

    const api = await check(get('/api/x', cookie(TICKET)))
    t.same(api.decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_REFRESH_REJECTED'] })
    t.equal(api.sessionEnded, true)
  })

  t.test('an unknown, expired or forged session ticket is a refused credential', async (t) => {
    const { check } = withSessions({})
    const navigation = await check(get('/jupyter/', cookie('forged-ticket')))
    t.same(navigation.decision, { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: ['ERR_SESSION_INVALID'] })
    t.notOk(navigation.sessionEnded, 'only a session that was live and ended is reported as ended')
    t.same((await check(get('/api/x', bearer('forged-ticket')))).decision, {
      outcome: 'unauthenticated',
      kind: 'api',
      reason: 'CREDENTIAL_REJECTED',
      codes: ['ERR_SESSION_INVALID'],
    })
  })

  t.test('a session store that cannot be reached makes the answer "unavailable" (retry), not a login', async (t) => {
    const { check } = withSessions({ [TICKET]: { status: 'unavailable' } })
    t.same((await check(get('/jupyter/', cookie(TICKET)))).decision, { outcome: 'unavailable', kind: 'navigation', reason: 'SESSION_STORE_UNAVAILABLE' })
    t.same((await check(get('/api/x', bearer(TICKET)))).decision, { outcome: 'unavailable', kind: 'api', reason: 'SESSION_STORE_UNAVAILABLE' })
  })

  t.test('an ended header session does not hide a valid session cookie, which is then kept', async (t) => {
    const OTHER = 'Hx0Ld2Qv7Wm1Kb8Tn4Ys6Rf3Gc9Pj5Ze0Au2Io8Ey3'
    const { check, seen } = withSessions({ [OTHER]: { status: 'ended', code: 'ERR_REFRESH_REJECTED' }, [TICKET]: valid() })
    const result = await check(get('/jupyter/', { ...bearer(OTHER), ...cookie(TICKET) }))
    t.match(result.decision, { outcome: 'allow', via: 'session-cookie' })
    t.same(seen, [OTHER, TICKET], 'the header first, then the cookie')
    t.notOk(result.sessionEnded, 'the valid cookie is not cleared')
  })

  t.test('a session whose claims cannot make an identity is refused with the reason', async (t) => {
    const { check } = withSessions({
      'no-email': valid(false, session({ claims: { iss: ISSUER, sub: 'x', groups: ['team-a'] } })),
      unverified: valid(false, session({ claims: { iss: ISSUER, sub: 'x', email: 'mallory@example.com', email_verified: false } })),
      // A session record without claims (a store bug) must fail closed, never allow.
      unreadable: valid(false, session({ claims: null as unknown as Session['claims'] })),
    })
    for (const [ticket, code] of [['no-email', 'ERR_IDENTITY_CLAIM_MISSING'], ['unverified', 'ERR_TOKEN_EMAIL_UNVERIFIED'], ['unreadable', 'ERR_IDENTITY_CLAIM_MISSING']]) {
      t.same((await check(get('/api/x', bearer(ticket!)))).decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: [code] }, ticket)
    }
  })

  t.test('keys unavailable for a bearer JWT while the session ended: retry, and the ended cookie is still cleared', async (t) => {
    const { check } = withSessions({ [TICKET]: { status: 'ended', code: 'ERR_TOKEN_EXPIRED' } })
    const result = await check(get('/jupyter/', { ...bearer(NO_KEYS_JWT), ...cookie(TICKET) }))
    t.same(result.decision, { outcome: 'unavailable', kind: 'api', reason: 'PROVIDER_UNAVAILABLE' })
    t.equal(result.sessionEnded, true)
  })

  t.test('cookies the caller already parsed are used instead of the Cookie header', async (t) => {
    const { check } = withSessions({ [TICKET]: valid() })
    const result = await check({ method: 'GET', target: '/jupyter/', headers: { cookie: 'authservice_session=stale' }, cookies: { authservice_session: TICKET } })
    t.match(result.decision, { outcome: 'allow', via: 'session-cookie' })
  })

  t.test('without a session authenticator, a session cookie is no credential', async (t) => {
    const { check, verifier } = checker()
    t.equal((await check(get('/jupyter/', cookie(TICKET)))).decision.outcome, 'login')
    t.same(verifier.seen, [])
  })

  t.test('skip paths never look up a session', async (t) => {
    const { check, seen } = withSessions({ [TICKET]: { status: 'unavailable' } })
    t.equal((await check(get('/dex/auth', cookie(TICKET)))).decision.outcome, 'skip')
    t.same(seen, [])
  })
})

t.test('a dry run changes nothing and says what each source established', async (t) => {
  const TICKET = 'qY3v8Xr0Lw2bN5kD7hT1sF4gJ6mP9cZ0aE2uR8oI3yW'
  const runs: Array<boolean | undefined> = []
  const sessions: SessionAuthenticator = async (_ticket, run = {}) => {
    runs.push(run.dryRun)
    return { status: 'none' }
  }
  const { check } = checker({}, { sessions })
  const request = get('/jupyter/', { authorization: 'Bearer junk.jwt.shaped', cookie: `authservice_session=${TICKET}` })

  const dry = await check(request, { dryRun: true, trace: true })
  t.same(runs, [true], 'the session authenticator is told not to refresh, write or delete')
  t.same(dry.trace, [
    { source: 'authorization', result: { status: 'rejected', code: 'ERR_TOKEN_MALFORMED' }, fingerprint: credentialFingerprint('junk.jwt.shaped') },
    { source: 'session-cookie', result: { status: 'rejected', code: 'ERR_SESSION_INVALID' }, fingerprint: credentialFingerprint(TICKET) },
  ], 'each with the fingerprint of what it found; no JWS, no unverified claims')
  t.same(dry.presented, { source: 'authorization', fingerprint: credentialFingerprint('junk.jwt.shaped') }, 'the first refused credential is the one logged')
  t.same(dry.why, { skipRule: undefined, kindSignal: 'bearer', ambiguousPath: false }, 'why: no skip rule, a Bearer made it an API call')
  t.same(dry.decision, { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_MALFORMED', 'ERR_SESSION_INVALID'] })

  const live = await check(request)
  t.same(runs, [true, false], 'the service runs with side effects')
  t.notOk('trace' in live, 'and builds no trace')
  t.same(live.decision, dry.decision, 'the same decision either way')

  const valid = await checker().check(get('/jupyter/', bearer('alice.jwt')), { trace: true })
  t.match(valid.trace, [{ source: 'authorization', result: { status: 'valid', identity: { userId: 'alice@example.com' } } }], 'the winning source ends the trace')
  t.same(valid.presented, { source: 'authorization', fingerprint: credentialFingerprint('alice.jwt') }, 'the winning credential is the one logged')
  const skipped = await checker().check(get('/dex/auth'), { trace: true })
  t.same(skipped.trace, [], 'a skip path tries no source')
  t.same(skipped.why, { skipRule: '/dex', kindSignal: undefined, ambiguousPath: false }, 'and says which SKIP_AUTH_URLS entry matched')

  const jws = await checker().check(get('/jupyter/', bearer(DEX_JWT)), { trace: true })
  t.same(jws.trace?.[0]?.unverified, { header: { alg: 'RS256', kid: 'k1' }, claims: { sub: 'CgVhbGljZQ' } }, 'a JWS: its header and claims, unverified')
  t.notOk('presented' in (await checker().check(get('/jupyter/'))), 'no credential, none presented')
})
