/** The check pipeline: path → skip or not, API or navigation, credentials → verifier → decision. */
import t from 'tap'
import type { JWTPayload } from 'jose'
import type { Config } from '../../../src/config/types.js'
import { ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { TokenVerifier, VerifiedToken } from '../../../src/oidc/token-verifier.js'
import { createChecker, type CheckRequest, type CheckerDependencies } from '../../../src/authz/check.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'

/** A Kubeflow manifest's settings (SKIP_AUTH_URLS=/dex, defaults elsewhere). */
function config(overrides: Partial<Config> = {}): Config {
  return {
    issuer: ISSUER,
    authUrl: '/dex/auth',
    clientId: 'kubeflow-oidc-authservice',
    clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok',
    redirectUrl: '/authservice/oidc/callback',
    scopes: ['openid', 'email', 'groups', 'profile', 'offline_access'],
    caBundle: undefined,
    urlPrefix: '/authservice/',
    skipAuthUrls: ['/dex'],
    apiRoutes: ['/api/', '/apis/', '/ml_metadata'],
    checkPathPrefix: '',
    afterLoginUrl: undefined,
    afterLogoutUrl: '/',
    userIdHeader: 'kubeflow-userid',
    userIdPrefix: '',
    userIdClaim: 'email',
    userIdTransformers: [],
    groupsHeader: 'kubeflow-groups',
    groupsClaim: 'groups',
    idTokenHeader: 'authorization',
    authHeader: 'authorization',
    idTokenCookie: undefined,
    setAuthorizationHeader: false,
    groupsAllowlist: ['*'],
    allowedEmailDomains: [],
    extraIssuers: [],
    jwtAlgorithms: ['RS256'],
    clockSkewSeconds: 30,
    maxTokenBytes: 16384,
    audiences: ['istio-ingressgateway.istio-system.svc.cluster.local'],
    sessionCookieName: 'authservice_session',
    sessionMaxAgeSeconds: 86400,
    sessionSameSite: 'Lax',
    sessionCookieHttpOnly: true,
    secureCookies: 'auto',
    sessionStoreType: 'cookie',
    sessionSecrets: [],
    redisAddr: undefined,
    redisPassword: undefined,
    redisDb: 0,
    serverHostname: '',
    serverPort: 8080,
    readinessProbePort: 8081,
    webServerPort: 8082,
    logLevel: 'info',
    ...overrides,
  }
}

const ALICE: JWTPayload = { iss: ISSUER, sub: 'CgVhbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] }

function verified(token: string, claims: JWTPayload, primary = true): VerifiedToken {
  return { token, issuer: String(claims.iss), primary, claims, expiresAtMs: Date.now() + 60_000 }
}

/** A verifier that answers from a table: a VerifiedToken, or an error to throw. Unknown tokens are malformed. */
function stubVerifier(table: Record<string, VerifiedToken | Error>): TokenVerifier & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    async verify(token) {
      seen.push(token)
      const entry = table[token]
      if (entry === undefined) throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'token is not a JWT')
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
  'no-email.jwt': verified('no-email.jwt', { iss: ISSUER, sub: 'x', groups: ['team-a'] }),
  'sa.jwt': verified('sa.jwt', { iss: 'https://kubernetes.default.svc', sub: 'system:serviceaccount:kubeflow:pipeline-runner' }, false),
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
    kind: 'navigation',
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
    ['the AUTHSERVICE_URL_PREFIX path is always skipped', {}, '/authservice/site/after_logout'],
    ['an absolute AUTHSERVICE_URL_PREFIX is skipped by its path', { urlPrefix: 'https://kubeflow.example.com/login/' }, '/login/x'],
    ['CHECK_PATH_PREFIX (Envoy path_prefix) is stripped before matching', { checkPathPrefix: '/ext-authz' }, '/ext-authz/dex/auth'],
  ]
  for (const [name, overrides, target] of cases) {
    const { check, verifier } = checker(overrides)
    const result = await check(get(target, bearer('expired.jwt')))
    t.equal(result.decision.outcome, 'skip', name)
    t.same(verifier.seen, [], `${name}: no credential verified`)
  }
})

t.test('paths that only look like skip paths are checked', async (t) => {
  const cases: [name: string, overrides: Partial<Config>, target: string][] = [
    ['a prefix match must end on a segment boundary', {}, '/dexfoo'],
    ['dot segments are resolved before matching', {}, '/dex/../api/v1/secrets'],
    ['encoded dot segments are resolved too', {}, '/dex/%2e%2e/notebooks'],
    ['an encoded slash never matches a skip path', {}, '/dex%2F..%2Fnotebooks'],
    ['a servlet ..; segment never matches a skip path', {}, '/dex/..;/notebooks'],
    ['the query string cannot make a path a skip path', {}, '/notebooks?/dex'],
    ['a path without CHECK_PATH_PREFIX is not stripped', { checkPathPrefix: '/ext-authz' }, '/jupyter/'],
    ['an absolute AUTHSERVICE_URL_PREFIX does not skip its host part', { urlPrefix: 'https://kubeflow.example.com/login/' }, '/authservice/x'],
  ]
  for (const [name, overrides, target] of cases) {
    const { check } = checker(overrides)
    const result = await check(get(target))
    t.equal(result.decision.outcome, 'unauthenticated', name)
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
  t.test('no credential is answered 401 NO_CREDENTIAL', async (t) => {
    const { check } = checker()
    t.same((await check(get('/jupyter/'))).decision, { outcome: 'unauthenticated', kind: 'navigation', reason: 'NO_CREDENTIAL', codes: [] })
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
    const result = await check(get('/', { authorization: 'Bearer expired.jwt', 'x-id-token': 'bad-signature.jwt', cookie: 'id_token=junk' }))
    t.same(result.decision.outcome === 'unauthenticated' && result.decision.codes, [
      'ERR_TOKEN_EXPIRED',
      'ERR_TOKEN_SIGNATURE_INVALID',
      'ERR_TOKEN_MALFORMED',
    ])
  })

  t.test('a verified token without the USERID_CLAIM is refused', async (t) => {
    const { check } = checker()
    const result = await check(get('/', bearer('no-email.jwt')))
    t.same(result.decision.outcome === 'unauthenticated' && result.decision.codes, ['ERR_IDENTITY_CLAIM_MISSING'])
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

  t.test('a Kubernetes service-account token of an extra issuer is allowed by its sub', async (t) => {
    const { check } = checker()
    const result = await check(get('/apis/v2beta1/runs', bearer('sa.jwt')))
    t.match(result.decision, { outcome: 'allow', kind: 'api', identity: { userId: 'system:serviceaccount:kubeflow:pipeline-runner', idToken: undefined } })
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
    t.same(result.decision, { outcome: 'unavailable', kind: 'navigation', reason: 'PROVIDER_UNAVAILABLE' })
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

  t.test('before discovery finished, a service-account token still verifies', async (t) => {
    const { check } = checker({}, { providerReady: () => false })
    t.equal((await check(get('/', bearer('sa.jwt')))).decision.outcome, 'allow')
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
    async verify() {
      throw bug
    },
  }
  const check = createChecker({ config: config(), verifier, providerReady: () => true, onUnexpectedError: (error) => seen.push(error) })
  const result = await check(get('/', bearer('alice.jwt')))
  t.same(result.decision, { outcome: 'unauthenticated', kind: 'navigation', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_MALFORMED'] })
  t.same(seen, [bug], 'the unexpected error is handed to onUnexpectedError')

  const silent = createChecker({ config: config(), verifier, providerReady: () => true })
  t.equal((await silent(get('/', bearer('alice.jwt')))).decision.outcome, 'unauthenticated', 'without a reporter it still fails closed')
})
