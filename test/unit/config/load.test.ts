import t, { type Test } from 'tap'
import { loadConfig, type Env } from '../../../src/config/load.js'
import { ConfigError } from '../../../src/errors.js'
import { kubeflowParams, NO_REDIS } from '../../fixtures/config.js'

const SECRET = 'client-secret-value-never-printed'
const BASE: Env = { OIDC_PROVIDER: 'https://idp.example.com', CLIENT_ID: 'kubeflow-oidc-authservice', CLIENT_SECRET: SECRET }
/** 32 bytes of 0x01, base64 and base64url without padding. */
const KEY = Buffer.alloc(32, 1).toString('base64')
const KEY_URL = Buffer.alloc(40, 0xfb).toString('base64url')
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

/** A readFile over an in-memory map; a missing file throws like fs does. */
function files(map: Record<string, string> = {}) {
  return (path: string): string => {
    if (path in map) return map[path] as string
    throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' })
  }
}

const load = (env: Env, readFile = files()) => loadConfig({ ...BASE, ...env }, readFile)

/** The problems of a load that must fail with ERR_CONFIG_INVALID. */
function problemsOf(t: Test, env: Env, readFile = files()): readonly string[] {
  try {
    loadConfig(env, readFile)
  } catch (error) {
    t.type(error, ConfigError)
    t.equal((error as ConfigError).code, 'ERR_CONFIG_INVALID')
    return (error as ConfigError).problems
  }
  t.fail('expected a ConfigError')
  return []
}

t.test("Kubeflow's own settings load, with the oidc-authservice defaults for the rest", async (t) => {
  const { config, warnings } = loadConfig(
    kubeflowParams({ issuer: 'http://dex.auth.svc.cluster.local:5556/dex', clientId: 'kubeflow-oidc-authservice', clientSecret: SECRET }),
    files(),
  )
  t.same(config, {
    issuer: 'http://dex.auth.svc.cluster.local:5556/dex',
    authUrl: '/dex/auth',
    clientId: 'kubeflow-oidc-authservice',
    clientSecret: SECRET,
    redirectUrl: '/authservice/oidc/callback',
    scopes: ['openid', 'profile', 'email', 'groups'],
    caBundle: undefined,
    urlPrefix: '/authservice/',
    skipAuthUrls: ['/dex'],
    apiRoutes: ['/api/', '/apis/', '^/ml_metadata', '^/katib/[a-z]+_[a-z_]+/', '^/pipeline/system/', '^/pipeline/k8s/', '^/pipeline/visualizations/'],
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
    setXAuthRequest: false,
    userPageApiToken: false,
    groupsAllowlist: ['*'],
    allowedEmailDomains: [],
    requireEmailVerified: true,
    extraIssuers: [],
    primaryExtraAudiences: [],
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
    // test/fixtures/config.ts NO_REDIS is what the loader makes of no Redis setting: held to it here.
    ...NO_REDIS,
    serverHostname: '',
    readinessProbeHostname: '',
    serverPort: 8080,
    readinessProbePort: 8081,
    webServerPort: 8082,
    logLevel: 'info',
    logAllowDecisions: { mode: 'all' },
  })
  t.equal(warnings.length, 2, 'PORT and STORE_PATH are tolerated silently')
  t.match(warnings[0], /^OIDC_PROVIDER: uses plain http/)
  t.match(warnings[1], /^SESSION_SECRETS: not set; session keys are derived from CLIENT_SECRET/)
})

t.test('an https issuer and explicit session secrets give no warnings', async (t) => {
  const { warnings } = load({ SESSION_SECRETS: KEY })
  t.same(warnings, [])
})

t.test('the config is deeply frozen, yet its transformer regexps still work', async (t) => {
  const { config, warnings } = load({
    USERID_TRANSFORMERS: '[{"matches": "(?i)^(.*)@EXAMPLE\\\\.com$", "replaces": "$1"}]',
    SESSION_SECRETS: `${KEY},${KEY_URL}`,
  })
  t.ok(Object.isFrozen(config))
  t.ok(Object.isFrozen(warnings))
  t.ok(Object.isFrozen(config.scopes))
  t.ok(Object.isFrozen(config.userIdTransformers))
  const rule = config.userIdTransformers[0]!
  t.ok(Object.isFrozen(rule))
  t.equal('Ann@Example.com'.replace(rule.matches, rule.replaces), 'Ann', 'a global regexp can still update lastIndex')
  t.same(config.sessionSecrets, [new Uint8Array(32).fill(1), new Uint8Array(40).fill(0xfb)])
})

t.test('required variables that are missing or empty are each reported', async (t) => {
  const problems = problemsOf(t, { OIDC_PROVIDER: '', CLIENT_SECRET: '' })
  t.same(problems, ['OIDC_PROVIDER: required', 'CLIENT_ID: required', 'CLIENT_SECRET: required'])
})

t.test('only the env argument is read, never process.env', async (t) => {
  process.env.CLIENT_ID = 'from-process-env'
  t.teardown(() => void delete process.env.CLIENT_ID)
  t.same(problemsOf(t, { OIDC_PROVIDER: 'https://idp', CLIENT_SECRET: 'x' }), ['CLIENT_ID: required'])
})

t.test('every problem is reported together, each naming its variable', async (t) => {
  const problems = problemsOf(t, {
    ...BASE,
    OIDC_PROVIDER: 'dex',
    SERVER_PORT: '80800',
    READINESS_PROBE_PORT: 'x',
    SESSION_MAX_AGE: '59',
    USERID_HEADER: 'bad header',
    API_ROUTES: '/api/,(apis',
    CHECK_PATH_PREFIX: '/check/',
    JWT_ALGORITHMS: 'RS256,HS256,none',
    JWT_CLOCK_SKEW_SECONDS: '301',
    MAX_TOKEN_BYTES: '1023',
    SET_AUTHORIZATION_HEADER: 'on',
    LOG_LEVEL: 'verbose',
    SESSION_STORE_TYPE: 'boltdb',
    EXTRA_JWT_ISSUERS: 'https://k8s=aud,nope',
    USERID_TRANSFORMERS: '[{"matches": "("}]',
    ID_TOKEN_COOKIE: 'a;b',
  })
  const expected = [
    /^OIDC_PROVIDER: must be an absolute http or https URL$/,
    /^USERID_HEADER: must be an HTTP header name/,
    /^USERID_TRANSFORMERS: rule 1: must be an object/,
    /^ID_TOKEN_COOKIE: must be a cookie name/,
    /^SET_AUTHORIZATION_HEADER: must be a boolean/,
    /^API_ROUTES: entry 2: is not a valid regular expression: \(apis$/,
    /^CHECK_PATH_PREFIX: must start with \/ and not end with \/$/,
    /^EXTRA_JWT_ISSUERS: entry 2: issuer must be an absolute http or https URL \(issuer=audience\)$/,
    /^JWT_ALGORITHMS: entry 2: HS256 is not allowed: .*; entry 3: none is not allowed/,
    /^JWT_CLOCK_SKEW_SECONDS: must be an integer from 0 to 300$/,
    /^MAX_TOKEN_BYTES: must be an integer from 1024 to 49152$/,
    /^SESSION_MAX_AGE: must be an integer of at least 60$/,
    /^SESSION_STORE_TYPE: must be one of: cookie, redis$/,
    /^SERVER_PORT: must be an integer from 1 to 65535$/,
    /^READINESS_PROBE_PORT: must be an integer from 1 to 65535$/,
    /^LOG_LEVEL: must be one of: fatal, error, warn, info, debug, trace, silent$/,
  ]
  t.equal(problems.length, expected.length, problems.join('\n'))
  for (const pattern of expected) t.ok(problems.some((problem) => pattern.test(problem)), String(pattern))
  t.notOk(problems.some((problem) => problem.startsWith('READINESS_PROBE_PORT: must differ')), 'no knock-on problem from defaults')
})

t.test('empty values count as unset, so the defaults apply', async (t) => {
  const { config } = load({ SERVER_PORT: '', OIDC_SCOPES: '', AUTHSERVICE_URL_PREFIX: '', USERID_HEADER: '', SESSION_SECRETS: '' })
  t.equal(config.serverPort, 8080)
  t.same(config.scopes, ['openid', 'email'])
  t.equal(config.urlPrefix, '/authservice/')
  t.equal(config.userIdHeader, 'kubeflow-userid')
  t.same(config.sessionSecrets, [])
})

t.test('the prefix gains a trailing slash and the derived URLs follow it', async (t) => {
  const { config } = load({ AUTHSERVICE_URL_PREFIX: 'https://kf.example.com/auth' })
  t.equal(config.urlPrefix, 'https://kf.example.com/auth/')
  t.equal(config.redirectUrl, 'https://kf.example.com/auth/oidc/callback')
  t.equal(config.afterLogoutUrl, 'https://kf.example.com/auth/site/after_logout')
  t.matchOnly(problemsOf(t, { ...BASE, AUTHSERVICE_URL_PREFIX: 'authservice' }), [/^AUTHSERVICE_URL_PREFIX: .*path starting with \//])
})

t.test('explicit URLs are kept byte-for-byte', async (t) => {
  const { config } = load({
    REDIRECT_URL: 'https://KF.example.com/authservice/oidc/callback',
    AFTER_LOGIN_URL: '/welcome',
    OIDC_AUTH_URL: 'https://idp.example.com/auth?x=1',
  })
  t.equal(config.redirectUrl, 'https://KF.example.com/authservice/oidc/callback')
  t.equal(config.afterLoginUrl, '/welcome')
  t.equal(config.authUrl, 'https://idp.example.com/auth?x=1')
})

t.test('legacy SKIP_AUTH_URI is merged into SKIP_AUTH_URLS without the prefix path', async (t) => {
  const { config } = load({ SKIP_AUTH_URLS: '/dex, /public', SKIP_AUTH_URI: '/dex /healthz' })
  t.same(config.skipAuthUrls, ['/dex', '/public', '/healthz'])
  t.same(problemsOf(t, { ...BASE, SKIP_AUTH_URI: '/ok healthz' }), ['SKIP_AUTH_URI: entry 2: must be a path starting with /'])
})

t.test('lists and headers are normalised', async (t) => {
  const { config } = load({
    ALLOWED_EMAIL_DOMAINS: 'Example.COM, corp.example',
    GROUPS_ALLOWLIST: 'admins, devs',
    AUDIENCES: 'a,b',
    GROUPS_HEADER: 'X-Groups',
    ID_TOKEN_HEADER: 'X-Id-Token',
    AUTH_HEADER: 'X-Auth',
    ID_TOKEN_COOKIE: 'id_token',
    EXTRA_JWT_ISSUERS: 'https://ci.example.com=kf',
    JWT_ALGORITHMS: 'RS256,ES256',
  })
  t.same(config.allowedEmailDomains, ['example.com', 'corp.example'])
  t.same(config.groupsAllowlist, ['admins', 'devs'])
  t.same(config.audiences, ['a', 'b'])
  t.equal(config.groupsHeader, 'x-groups')
  t.equal(config.idTokenHeader, 'x-id-token')
  t.equal(config.authHeader, 'x-auth')
  t.equal(config.idTokenCookie, 'id_token')
  t.same(config.extraIssuers, [{ issuer: 'https://ci.example.com', audience: 'kf', rules: { useridClaim: 'sub', emailDomains: 'apply' } }])
  t.same(config.jwtAlgorithms, ['RS256', 'ES256'])
})

// Issue 15, finding 5: such an entry replaced the primary issuer, so Dex tokens for CLIENT_ID got 401.
t.test('EXTRA_JWT_ISSUERS entries naming OIDC_PROVIDER add audiences for its bearer tokens; they are no extra issuer', async (t) => {
  const { config } = load({
    AUDIENCES: 'a,b',
    EXTRA_JWT_ISSUERS: `${BASE.OIDC_PROVIDER}=pipelines,https://ci.example.com,${BASE.OIDC_PROVIDER},${BASE.OIDC_PROVIDER}/=other`,
  })
  t.same(config.primaryExtraAudiences, ['pipelines', 'a', 'b'], 'its audience, or AUDIENCES for a bare entry')
  const rules = { useridClaim: 'sub', emailDomains: 'apply' }
  t.same(config.extraIssuers, [
    { issuer: 'https://ci.example.com', audience: '', rules },
    { issuer: `${BASE.OIDC_PROVIDER}/`, audience: 'other', rules },
  ], 'issuers are compared exactly, as iss is')
})

t.test('REQUIRE_EMAIL_VERIFIED is on by default; turning it off is warned about', async (t) => {
  t.equal(load({}).config.requireEmailVerified, true)
  const off = load({ REQUIRE_EMAIL_VERIFIED: 'false', SESSION_SECRETS: KEY })
  t.equal(off.config.requireEmailVerified, false)
  t.same(off.warnings, ['REQUIRE_EMAIL_VERIFIED: false; an email the provider has not verified can become the user id'])
})

t.test('a secret is read from its _FILE variant with the trailing newline trimmed', async (t) => {
  const { config } = loadConfig(
    { ...BASE, CLIENT_SECRET: '', CLIENT_SECRET_FILE: '/s/client', SESSION_SECRETS_FILE: '/s/keys', SESSION_STORE_REDIS_PWD_FILE: '/s/redis' },
    files({ '/s/client': 'from-file\r\n', '/s/keys': `${KEY},\n${KEY_URL}\n`, '/s/redis': 'pw\n' }),
  )
  t.equal(config.clientSecret, 'from-file')
  t.equal(config.sessionSecrets.length, 2)
  t.equal(config.redisPassword, 'pw')
})

t.test('a secret set both plainly and through _FILE is a problem that does not show it', async (t) => {
  const problems = problemsOf(t, { ...BASE, CLIENT_SECRET_FILE: '/s/client', SESSION_STORE_REDIS_PWD: 'pw', SESSION_STORE_REDIS_PWD_FILE: '/s/r' })
  t.same(problems, [
    'CLIENT_SECRET: set either CLIENT_SECRET or CLIENT_SECRET_FILE, not both',
    'SESSION_STORE_REDIS_PWD: set either SESSION_STORE_REDIS_PWD or SESSION_STORE_REDIS_PWD_FILE, not both',
  ])
  t.notMatch(problems.join('\n'), SECRET)
})

t.test('an unreadable or empty secret file is a problem naming the _FILE variable', async (t) => {
  const env = { ...BASE, CLIENT_SECRET: undefined, CLIENT_SECRET_FILE: '/missing', SESSION_SECRETS_FILE: '/empty', SESSION_STORE_REDIS_PWD_FILE: '/odd' }
  const readFile = (path: string): string => {
    if (path === '/empty') return '\n'
    if (path === '/odd') throw new Error('no code on this one')
    return files()(path)
  }
  t.same(problemsOf(t, env, readFile), [
    'CLIENT_SECRET_FILE: cannot read /missing (ENOENT)',
    'SESSION_SECRETS_FILE: file is empty',
    'SESSION_STORE_REDIS_PWD_FILE: cannot read /odd',
  ])
  const thrower = () => {
    throw null // a caller's readFile may throw anything, even a non-object
  }
  t.same(problemsOf(t, { ...BASE, CLIENT_SECRET: '', CLIENT_SECRET_FILE: '/x' }, thrower), ['CLIENT_SECRET_FILE: cannot read /x'])
})

t.test('a bad session secret is named by position, never by value', async (t) => {
  const short = Buffer.alloc(16, 7).toString('base64')
  const problems = problemsOf(t, { ...BASE, SESSION_SECRETS: `${KEY},${short},not base64!` })
  t.same(problems, ['SESSION_SECRETS: entry 2: must decode to at least 32 bytes; entry 3: must be base64 or base64url'])
  t.notMatch(problems[0], short)
  const fromFile = problemsOf(t, { ...BASE, SESSION_SECRETS_FILE: '/k' }, files({ '/k': 'tooshort\n' }))
  t.same(fromFile, ['SESSION_SECRETS_FILE: entry 1: must decode to at least 32 bytes'])
})

t.test('redis needs an address; the other session settings are parsed', async (t) => {
  t.same(problemsOf(t, { ...BASE, SESSION_STORE_TYPE: 'redis' }), [
    'SESSION_STORE_REDIS_ADDR: required when SESSION_STORE_TYPE is redis (or SESSION_STORE_REDIS_SENTINEL_ADDRS for Sentinel, SESSION_STORE_REDIS_CLUSTER_ADDRS for a Cluster)',
  ])
  t.matchOnly(problemsOf(t, { ...BASE, SESSION_STORE_REDIS_ADDR: 'redis' }), [/^SESSION_STORE_REDIS_ADDR: must be host:port/])
  const { config } = load({
    SESSION_STORE_TYPE: 'Redis',
    SESSION_STORE_REDIS_ADDR: 'redis.auth:6379',
    SESSION_STORE_REDIS_DB: '3',
    SESSION_COOKIE_NAME: 'kf_session',
    SESSION_MAX_AGE: '3600',
    SESSION_SAME_SITE: 'strict',
    SESSION_COOKIE_HTTPONLY: 'false',
    SECURE_COOKIES: 'true',
  })
  t.equal(config.sessionStoreType, 'redis')
  t.equal(config.redisAddr, 'redis.auth:6379')
  t.equal(config.redisDb, 3)
  t.equal(config.sessionCookieName, 'kf_session')
  t.equal(config.sessionMaxAgeSeconds, 3600)
  t.equal(config.sessionSameSite, 'Strict')
  t.equal(config.sessionCookieHttpOnly, false)
  t.equal(config.secureCookies, 'true')
})

t.test('Redis Sentinel, Cluster, ACL user and TLS settings are read', async (t) => {
  const sentinel = load(
    {
      SESSION_STORE_TYPE: 'redis',
      SESSION_STORE_REDIS_SENTINEL_ADDRS: 'redis-node-0.redis-headless:26379, redis-node-1.redis-headless:26379',
      SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'mymaster',
      SESSION_STORE_REDIS_SENTINEL_PWD_FILE: '/s/sentinel',
      SESSION_STORE_REDIS_USERNAME: 'authservice',
      SESSION_STORE_REDIS_PWD: 'a-password-of-our-own',
      SESSION_STORE_REDIS_TLS: 'true',
      SESSION_STORE_REDIS_CA_BUNDLE: '/etc/redis-ca/ca.crt',
      SESSION_SECRETS: KEY,
    },
    files({ '/s/sentinel': 'sentinel-password\n', '/etc/redis-ca/ca.crt': PEM }),
  ).config
  t.match(sentinel, {
    redisAddr: undefined,
    redisSentinelAddrs: ['redis-node-0.redis-headless:26379', 'redis-node-1.redis-headless:26379'],
    redisSentinelMasterName: 'mymaster',
    redisSentinelPassword: 'sentinel-password',
    redisClusterAddrs: [],
    redisUsername: 'authservice',
    redisTls: true,
    redisCaBundle: PEM,
  })
  const cluster = load({ SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_CLUSTER_ADDRS: 'n1:6379,n2:6379', SESSION_SECRETS: KEY }).config
  t.same(cluster.redisClusterAddrs, ['n1:6379', 'n2:6379'])
  t.equal(cluster.redisTls, false)
  t.same(load({ SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'ignored', SESSION_STORE_REDIS_CA_BUNDLE: '/ca' }, files({ '/ca': PEM })).config.redisSentinelMasterName, 'ignored', 'the cookie store ignores the Redis topology')
})

t.test('Redis topology problems are reported together, each naming its variable', async (t) => {
  const redis = { ...BASE, SESSION_STORE_TYPE: 'redis', SESSION_SECRETS: KEY }
  t.same(problemsOf(t, { ...redis, SESSION_STORE_REDIS_ADDR: 'r:6379', SESSION_STORE_REDIS_SENTINEL_ADDRS: 's:26379', SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'm', SESSION_STORE_REDIS_CLUSTER_ADDRS: 'n:6379' }), [
    'SESSION_STORE_REDIS_ADDR, SESSION_STORE_REDIS_SENTINEL_ADDRS, SESSION_STORE_REDIS_CLUSTER_ADDRS: set exactly one of them (one Redis, its Sentinels, or its Cluster nodes)',
  ], 'three address settings')
  t.same(problemsOf(t, { ...redis, SESSION_STORE_REDIS_CLUSTER_ADDRS: 'n:6379', SESSION_STORE_REDIS_DB: '2', SESSION_STORE_REDIS_USERNAME: 'u', SESSION_STORE_REDIS_CA_BUNDLE: '/ca', SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: 'm', SESSION_STORE_REDIS_SENTINEL_PWD_FILE: '/spw' }, files({ '/ca': PEM, '/spw': 'x' })), [
    'SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: only used with SESSION_STORE_REDIS_SENTINEL_ADDRS, which is not set',
    'SESSION_STORE_REDIS_SENTINEL_PWD: only used with SESSION_STORE_REDIS_SENTINEL_ADDRS, which is not set',
    'SESSION_STORE_REDIS_DB: must be 0 with SESSION_STORE_REDIS_CLUSTER_ADDRS (Redis Cluster has only database 0)',
    'SESSION_STORE_REDIS_USERNAME: needs SESSION_STORE_REDIS_PWD (an ACL user logs in with AUTH <username> <password>)',
    'SESSION_STORE_REDIS_CA_BUNDLE: only used with SESSION_STORE_REDIS_TLS=true, which is not set',
  ], 'a Cluster with another database, and settings that mean nothing alone')
  t.same(problemsOf(t, { ...redis, SESSION_STORE_REDIS_SENTINEL_ADDRS: 's:26379,s2', SESSION_STORE_REDIS_SENTINEL_PWD: 'fake-dev-only-client-secret-change-me', SESSION_STORE_REDIS_TLS: 'yes' }), [
    'SESSION_STORE_REDIS_SENTINEL_ADDRS: entry 2: must be host:port with a port from 1 to 65535',
    'SESSION_STORE_REDIS_TLS: must be a boolean (true/false, t/f, 1/0)',
    'SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: required with SESSION_STORE_REDIS_SENTINEL_ADDRS (the name in the Sentinels\' "sentinel monitor <name>")',
    'SESSION_STORE_REDIS_SENTINEL_PWD: is a value published in public manifests or docs; set a password of your own (openssl rand -base64 32)',
  ], 'an invalid Sentinel address, no master name, a published password')
  t.same(problemsOf(t, { ...redis, SESSION_STORE_REDIS_CLUSTER_ADDRS: ',', SESSION_STORE_REDIS_TLS: 'true', SESSION_STORE_REDIS_CA_BUNDLE: '/ca' }, files({ '/ca': 'not a certificate' })), [
    'SESSION_STORE_REDIS_CLUSTER_ADDRS: must list at least one host:port',
    'SESSION_STORE_REDIS_CA_BUNDLE: file holds no PEM certificate',
  ])
  t.same(problemsOf(t, { ...redis, SESSION_STORE_REDIS_ADDR: 'r:6379', SESSION_STORE_REDIS_TLS: 'true', SESSION_STORE_REDIS_CA_BUNDLE: '/missing' }), [
    'SESSION_STORE_REDIS_CA_BUNDLE: cannot read /missing (ENOENT)',
  ])
})

t.test('an unknown SESSION_SAME_SITE becomes Lax with a warning', async (t) => {
  const { config, warnings } = load({ SESSION_SAME_SITE: 'relaxed', SESSION_SECRETS: KEY })
  t.equal(config.sessionSameSite, 'Lax')
  t.same(warnings, ['SESSION_SAME_SITE: is not None, Strict or Lax; using Lax, as oidc-authservice did'])
})

t.test('SameSite=None without Secure cookies is a problem', async (t) => {
  t.same(problemsOf(t, { ...BASE, SESSION_SAME_SITE: 'None', SECURE_COOKIES: 'false' }), [
    'SESSION_SAME_SITE: None needs Secure cookies, but SECURE_COOKIES is false (browsers drop such cookies)',
  ])
  t.equal(load({ SESSION_SAME_SITE: 'None' }).config.sessionSameSite, 'None', 'fine with SECURE_COOKIES=auto')
})

// Issue 15, finding 8: the ops port listened on 0.0.0.0 whatever SERVER_HOSTNAME said.
t.test('READINESS_PROBE_HOSTNAME: the ops address, all interfaces by default whatever SERVER_HOSTNAME says', async (t) => {
  t.equal(load({ SERVER_HOSTNAME: '127.0.0.1' }).config.readinessProbeHostname, '')
  t.equal(load({ READINESS_PROBE_HOSTNAME: '127.0.0.2' }).config.readinessProbeHostname, '127.0.0.2')
})

t.test('the check and readiness ports must differ', async (t) => {
  t.same(problemsOf(t, { ...BASE, READINESS_PROBE_PORT: '8080' }), ['READINESS_PROBE_PORT: must differ from SERVER_PORT'])
  const { config } = load({ SERVER_HOSTNAME: '127.0.0.1', SERVER_PORT: '9000', READINESS_PROBE_PORT: '9001', WEB_SERVER_PORT: '9002' })
  t.same([config.serverHostname, config.serverPort, config.readinessProbePort, config.webServerPort], ['127.0.0.1', 9000, 9001, 9002])
})

t.test('the gRPC port is off by default and must not collide with the other ports', async (t) => {
  t.equal(load({}).config.grpcPort, undefined)
  t.equal(load({ GRPC_PORT: '9090' }).config.grpcPort, 9090)
  t.same(problemsOf(t, { ...BASE, GRPC_PORT: '8081' }), ['GRPC_PORT: must differ from SERVER_PORT and READINESS_PROBE_PORT'])
})

t.test('sessions keyed from a client secret published in public manifests are refused; that client secret is warned about', async (t) => {
  for (const published of ['pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok', 'fake-dev-only-client-secret-change-me']) {
    t.same(problemsOf(t, { ...BASE, CLIENT_SECRET: published }), [
      'SESSION_SECRETS: required while CLIENT_SECRET is a value published in public manifests (sessions could be forged); set SESSION_SECRETS (openssl rand -base64 32) or change CLIENT_SECRET',
    ])
    const withSecrets = load({ CLIENT_SECRET: published, SESSION_SECRETS: Buffer.alloc(32, 7).toString('base64') })
    t.equal(withSecrets.config.clientSecret, published, 'fine once SESSION_SECRETS is set')
    t.same(withSecrets.warnings, ['CLIENT_SECRET: is a value published in public manifests; anyone can present it as this client to the provider — change it in Dex and here'], 'but warned about')
  }
  t.match(load({ CLIENT_SECRET: 'short-secret' }).warnings.join('\n'), /CLIENT_SECRET is short/, 'a short client secret is warned about')
})

// Issue 15, finding 3: the session key of deploy/overlays/dev was accepted, so anyone could forge a
// session on a cluster that applied it.
t.test('a published session key or Redis password is refused, naming the variable and never the value', async (t) => {
  const devKey = 'RkFLRS1ERVYtT05MWS1LRVktTk9ULUZPUi1QUk9EISE='
  const devKeyUrl = Buffer.from(devKey, 'base64').toString('base64url')
  const problems = problemsOf(t, { ...BASE, SESSION_SECRETS: `${KEY},${devKeyUrl}`, SESSION_STORE_REDIS_PWD: 'fake-dev-only-client-secret-change-me' })
  t.same(problems, [
    'SESSION_SECRETS: entry 2 is a value published in public manifests or docs (anyone could forge a session); generate one: openssl rand -base64 32',
    'SESSION_STORE_REDIS_PWD: is a value published in public manifests or docs; set a password of your own (openssl rand -base64 32)',
  ], 'the dev overlay key, even re-spelled as base64url without padding')
  t.same(problemsOf(t, { ...BASE, SESSION_SECRETS_FILE: '/k' }, files({ '/k': `${devKey}\n` })), [
    'SESSION_SECRETS: entry 1 is a value published in public manifests or docs (anyone could forge a session); generate one: openssl rand -base64 32',
  ], 'also from a file')
  t.notMatch(problems.join('\n'), devKeyUrl)
  t.equal(load({ SESSION_STORE_REDIS_PWD: 'a-password-of-our-own' }).config.redisPassword, 'a-password-of-our-own')
})

t.test('the user id and groups headers must differ', async (t) => {
  t.same(problemsOf(t, { ...BASE, GROUPS_HEADER: 'Kubeflow-Userid' }), ['GROUPS_HEADER: must differ from USERID_HEADER'])
})

t.test('USER_PAGE_API_TOKEN (the user page\'s "copy API token") is off by default and a boolean', async (t) => {
  t.equal(load({}).config.userPageApiToken, false)
  t.equal(load({ USER_PAGE_API_TOKEN: 'true' }).config.userPageApiToken, true)
  t.same(problemsOf(t, { ...BASE, USER_PAGE_API_TOKEN: 'on' }), ['USER_PAGE_API_TOKEN: must be a boolean (true/false, t/f, 1/0)'])
})

t.test("SET_XAUTHREQUEST (oauth2-proxy's X-Auth-Request-* headers) is off by default and a boolean", async (t) => {
  t.equal(load({ SET_XAUTHREQUEST: 'true' }).config.setXAuthRequest, true)
  t.equal(load({ SET_XAUTHREQUEST: '' }).config.setXAuthRequest, false)
  t.same(problemsOf(t, { ...BASE, SET_XAUTHREQUEST: 'yes please' }), ['SET_XAUTHREQUEST: must be a boolean (true/false, t/f, 1/0)'])
})

t.test('LOG_ALLOW_DECISIONS logs every allow by default and names itself when wrong', async (t) => {
  t.same(load({}).config.logAllowDecisions, { mode: 'all' })
  t.same(load({ LOG_ALLOW_DECISIONS: '1-in-50' }).config.logAllowDecisions, { mode: 'sample', every: 50 })
  t.same(problemsOf(t, { ...BASE, LOG_ALLOW_DECISIONS: 'some' }), ['LOG_ALLOW_DECISIONS: must be all, debug or 1-in-N (N from 2 to 1000000)'])
})

t.test('log levels are case-insensitive and logrus panic means fatal', async (t) => {
  t.equal(load({ LOG_LEVEL: 'PANIC' }).config.logLevel, 'fatal')
  t.equal(load({ LOG_LEVEL: 'Warning' }).config.logLevel, 'warn')
  t.equal(load({ LOG_LEVEL: 'DEBUG' }).config.logLevel, 'debug')
})

t.test('CA_BUNDLE is read as PEM text; an unreadable or non-PEM file is a problem', async (t) => {
  t.equal(load({ CA_BUNDLE: '/ca.pem' }, files({ '/ca.pem': PEM })).config.caBundle, PEM)
  t.same(problemsOf(t, { ...BASE, CA_BUNDLE: '/nope.pem' }), ['CA_BUNDLE: cannot read /nope.pem (ENOENT)'])
  t.same(problemsOf(t, { ...BASE, CA_BUNDLE: '/x' }, files({ '/x': 'hello' })), ['CA_BUNDLE: file holds no PEM certificate'])
})

t.test('unimplemented settings that are set are named together in one warning', async (t) => {
  const { warnings } = load({
    SESSION_SECRETS: KEY,
    THEME: 'kubeflow',
    STRICT_SESSION_VALIDATION: 'true',
    TEMPLATE_CONTEXT_b: 'x',
    TEMPLATE_CONTEXT_a: 'y',
    HOMEPAGE_URL: '',
    CLIENT_NAME: undefined,
    STATIC_DESTINATION_URL: '/',
  })
  t.same(warnings, [
    'accepted for compatibility but not implemented, so ignored: ' +
      'STRICT_SESSION_VALIDATION, THEME, TEMPLATE_CONTEXT_a, TEMPLATE_CONTEXT_b, STATIC_DESTINATION_URL',
  ])
})

t.test('no problem or warning ever contains a secret value', async (t) => {
  const secrets = { CLIENT_SECRET: SECRET, SESSION_SECRETS: 'c2VjcmV0LWtleS10b28tc2hvcnQ', SESSION_STORE_REDIS_PWD: 'redis-password-value' }
  const env = { ...BASE, ...secrets, OIDC_PROVIDER: 'http://dex', SESSION_STORE_REDIS_PWD_FILE: '/r', THEME: 'x' }
  try {
    loadConfig(env, files())
    t.fail('expected a ConfigError')
  } catch (error) {
    const text = `${(error as ConfigError).message}\n${(error as ConfigError).problems.join('\n')}`
    for (const value of Object.values(secrets)) t.notMatch(text, value)
  }
  const { warnings } = load({ OIDC_PROVIDER: 'http://dex', SESSION_STORE_REDIS_PWD: 'redis-password-value', THEME: 'x' })
  for (const value of Object.values(secrets)) t.notMatch(warnings.join('\n'), value)
})

t.test('KUBERNETES_TOKENS: off by default; on, every KUBERNETES_TOKEN* setting with its default', async (t) => {
  t.equal(load({}).config.kubernetesTokens, undefined, 'off by default')
  t.equal(load({ KUBERNETES_LEGACY_TOKENS: 'true', KUBERNETES_TOKENREVIEW: 'false' }).config.kubernetesTokens, undefined, 'the others alone turn nothing on')
  const { config, warnings } = load({ KUBERNETES_TOKENS: 'true', SESSION_SECRETS: KEY })
  t.same(config.kubernetesTokens, {
    issuer: 'https://kubernetes.default.svc.cluster.local',
    audiences: ['istio-ingressgateway.istio-system.svc.cluster.local'],
    maxLifetimeSeconds: 86400,
    tokenReview: true,
    reviewCacheSeconds: 10,
    legacy: false,
  }, 'the audiences default to AUDIENCES')
  t.notOk(warnings.some((warning) => warning.startsWith('KUBERNETES')), 'no warning')
  const set = load({
    KUBERNETES_TOKENS: 'true',
    KUBERNETES_TOKEN_ISSUER: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC',
    KUBERNETES_TOKEN_AUDIENCES: 'pipelines.kubeflow.org, gateway',
    KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS: '3600',
    KUBERNETES_TOKENREVIEW_CACHE_SECONDS: '60',
    KUBERNETES_LEGACY_TOKENS: 'true',
  }).config.kubernetesTokens
  t.match(set, { issuer: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC', audiences: ['pipelines.kubeflow.org', 'gateway'], maxLifetimeSeconds: 3600, reviewCacheSeconds: 60, legacy: true })
})

t.test('KUBERNETES_TOKEN_API_AUDIENCE: the API server\'s own audience only on purpose, with a warning', async (t) => {
  const problems = problemsOf(t, { ...BASE, KUBERNETES_TOKENS: 'true', KUBERNETES_TOKEN_AUDIENCES: 'gateway,https://kubernetes.default.svc' })
  t.match(problems, [/^KUBERNETES_TOKEN_AUDIENCES: https:\/\/kubernetes\.default\.svc is the API server's own audience/])
  const { config, warnings } = load({ KUBERNETES_TOKENS: 'true', KUBERNETES_TOKEN_AUDIENCES: 'gateway', KUBERNETES_TOKEN_API_AUDIENCE: 'true' })
  t.same(config.kubernetesTokens?.audiences, [
    'gateway',
    'https://kubernetes.default.svc.cluster.local',
    'https://kubernetes.default.svc',
    'kubernetes.default.svc',
  ])
  t.ok(warnings.some((warning) => warning.startsWith('KUBERNETES_TOKEN_API_AUDIENCE: true')))
})

t.test('KUBERNETES_* problems and warnings, each naming its variable', async (t) => {
  const wrong: Env = { KUBERNETES_TOKENS: 'true', KUBERNETES_TOKENREVIEW: 'false', KUBERNETES_LEGACY_TOKENS: 'true' }
  const problems = problemsOf(t, {
    ...BASE, ...wrong, KUBERNETES_TOKENREVIEW_CACHE_SECONDS: '61', KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS: '10',
    EXTRA_JWT_ISSUERS: 'https://kubernetes.default.svc.cluster.local',
  })
  for (const pattern of [
    /^KUBERNETES_TOKENREVIEW_CACHE_SECONDS: /,
    /^KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS: /,
    /^KUBERNETES_LEGACY_TOKENS: needs KUBERNETES_TOKENREVIEW/,
    /^EXTRA_JWT_ISSUERS: https:\/\/kubernetes\.default\.svc\.cluster\.local is the cluster's service-account issuer/,
  ]) t.ok(problems.some((problem) => pattern.test(problem)), String(pattern))
  t.equal(problems.length, 4, problems.join('\n'))
  const { warnings } = load({ KUBERNETES_TOKENS: 'true', KUBERNETES_TOKENREVIEW: 'false' })
  t.ok(warnings.some((warning) => warning.startsWith('KUBERNETES_TOKENREVIEW: false')))
})

// Issue 15, finding 9: as an extra issuer, the cluster's service-account tokens were checked offline
// only (no TokenReview, no lifetime cap). Refused whether KUBERNETES_TOKENS is on or off.
t.test('EXTRA_JWT_ISSUERS naming the cluster\'s service-account issuer is refused, pointing to KUBERNETES_TOKENS', async (t) => {
  const cases: [name: string, env: Env, issuer: string][] = [
    ['the default KUBERNETES_TOKEN_ISSUER, KUBERNETES_TOKENS off', { EXTRA_JWT_ISSUERS: 'https://kubernetes.default.svc.cluster.local=istio-ingressgateway.istio-system.svc.cluster.local' }, 'https://kubernetes.default.svc.cluster.local'],
    ['the API server\'s short name', { EXTRA_JWT_ISSUERS: 'https://kubernetes.default.svc' }, 'https://kubernetes.default.svc'],
    ['with a port', { EXTRA_JWT_ISSUERS: 'https://kubernetes.default.svc:443' }, 'https://kubernetes.default.svc:443'],
    ['an EKS issuer named by KUBERNETES_TOKEN_ISSUER', { KUBERNETES_TOKEN_ISSUER: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC', EXTRA_JWT_ISSUERS: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC' }, 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC'],
    ['KUBERNETES_TOKENS on', { KUBERNETES_TOKENS: 'true', EXTRA_JWT_ISSUERS: 'https://kubernetes.default.svc.cluster.local' }, 'https://kubernetes.default.svc.cluster.local'],
  ]
  for (const [name, env, issuer] of cases) {
    const problems = problemsOf(t, { ...BASE, ...env })
    t.same(problems, [
      `EXTRA_JWT_ISSUERS: ${issuer} is the cluster's service-account issuer, whose tokens would be checked offline only (no TokenReview, no lifetime cap); ` +
        'remove the entry and set KUBERNETES_TOKENS=true (deploy/components/kubernetes-tokens; KUBERNETES_TOKEN_ISSUER names the issuer)',
    ], name)
  }
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUERS: 'kubernetes/serviceaccount' }), [
    /^EXTRA_JWT_ISSUERS: entry 1: kubernetes\/serviceaccount is the issuer of legacy service-account tokens, which never expire: use KUBERNETES_TOKENS=true with KUBERNETES_LEGACY_TOKENS=true/,
  ], 'the legacy issuer, with its own message')
  t.same(load({ EXTRA_JWT_ISSUERS: 'https://kubernetes.example.com' }).config.extraIssuers.map((extra) => extra.issuer), ['https://kubernetes.example.com'], 'another host is just another issuer')
})

// Issue 15, finding 6: an extra issuer's `email` became kubeflow-userid, so it could assert an admin's.
t.test('EXTRA_JWT_ISSUER_RULES: per extra issuer, defaults sub and apply', async (t) => {
  const CI = 'https://ci.example.com'
  const GH = 'https://token.actions.githubusercontent.com'
  const { config } = load({
    EXTRA_JWT_ISSUERS: `${CI}=ci,${GH}=kubeflow,https://third.example=x`,
    EXTRA_JWT_ISSUER_RULES: JSON.stringify({ [CI]: { useridClaim: 'email' }, [GH]: { useridClaim: 'repository', emailDomains: 'skip' } }),
  })
  t.same(config.extraIssuers.map((extra) => [extra.issuer, extra.rules]), [
    [CI, { useridClaim: 'email', emailDomains: 'apply' }],
    [GH, { useridClaim: 'repository', emailDomains: 'skip' }],
    ['https://third.example', { useridClaim: 'sub', emailDomains: 'apply' }],
  ], 'each issuer its rule, the defaults for what a rule leaves out and for issuers without one')
  t.same(load({ EXTRA_JWT_ISSUERS: CI }).config.extraIssuers[0]?.rules, { useridClaim: 'sub', emailDomains: 'apply' }, 'unset: the safe defaults')
})

t.test('EXTRA_JWT_ISSUER_RULES problems, every one reported naming the variable', async (t) => {
  const CI = 'https://ci.example.com'
  const problems = problemsOf(t, {
    ...BASE,
    EXTRA_JWT_ISSUERS: `${CI}=ci`,
    EXTRA_JWT_ISSUER_RULES: JSON.stringify({
      [CI]: { useridClaim: '', emailDomains: 'ignore', userIdClaim: 'email' },
      'not-a-url': {},
      'https://other.example': 'sub',
    }),
  })
  t.same(problems, [
    'EXTRA_JWT_ISSUER_RULES: https://ci.example.com: unknown member "userIdClaim" (useridClaim, emailDomains); ' +
      'https://ci.example.com: useridClaim must be a non-empty string (a claim name); ' +
      'https://ci.example.com: emailDomains must be "apply" or "skip"; ' +
      '"not-a-url": must be an issuer URL listed in EXTRA_JWT_ISSUERS; ' +
      'https://other.example: must be an object with "useridClaim" and/or "emailDomains"',
  ])
  const unknownIssuers = problemsOf(t, {
    ...BASE,
    EXTRA_JWT_ISSUERS: `${CI}=ci,${BASE.OIDC_PROVIDER}=pipelines`,
    EXTRA_JWT_ISSUER_RULES: JSON.stringify({ 'https://typo.example.com': {}, [BASE.OIDC_PROVIDER as string]: { useridClaim: 'sub' }, [CI]: {} }),
  })
  t.same(unknownIssuers, [
    'EXTRA_JWT_ISSUER_RULES: https://typo.example.com is not in EXTRA_JWT_ISSUERS',
    'EXTRA_JWT_ISSUER_RULES: https://idp.example.com is OIDC_PROVIDER, whose identities follow USERID_CLAIM and ALLOWED_EMAIL_DOMAINS',
  ], 'a rule for an issuer not in EXTRA_JWT_ISSUERS, or for OIDC_PROVIDER')
  t.same(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: '{"https://ci.example.com": ' }), ['EXTRA_JWT_ISSUER_RULES: must be valid JSON'])
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: '[]' }), [/^EXTRA_JWT_ISSUER_RULES: must be a JSON object keyed by issuer URL/])
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: 'null' }), [/^EXTRA_JWT_ISSUER_RULES: must be a JSON object/])
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: `{"${CI}": null}` }), [/must be an object with/], 'a null rule')
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: `{"${CI}": []}` }), [/must be an object with/], 'an array rule')
  t.match(problemsOf(t, { ...BASE, EXTRA_JWT_ISSUER_RULES: `{"${CI}": {"useridClaim": 7}}` }), [/useridClaim must be a non-empty string/], 'a claim that is no string')
})
