/**
 * Turns the environment into a validated, frozen Config. Everything goes through the table in
 * config/schema.ts; this file adds what one variable cannot say alone: `_FILE` variants, derived
 * defaults, cross-variable rules and the warnings. Every problem is collected and thrown together
 * in one ConfigError, so an operator fixes a manifest once, not once per restart. Problems and
 * warnings name variables and positions, never values, so a secret cannot leak through them.
 */
import { ConfigError } from '../errors.js'
import { DEFAULT_EXTRA_ISSUER_RULES, unwrap } from './parse.js'
import { isPublishedKey, isPublishedSecret } from './published-secrets.js'
import { PREFIX_PLACEHOLDER, VARIABLES, VARS, type Variable } from './schema.js'
import type { Config, ExtraIssuer, ExtraIssuerEntry, KubernetesTokens, LoadedConfig } from './types.js'

export type Env = Readonly<Record<string, string | undefined>>
export type ReadFile = (path: string) => string

/** Raw text of a variable and the name the operator set it under (`X` or `X_FILE`). */
type Raw = { readonly text: string; readonly label: string } | 'unset' | 'failed'

export function loadConfig(env: Env, readFile: ReadFile): LoadedConfig {
  const problems: string[] = []
  const warnings: string[] = []
  // Empty counts as unset, as envconfig's defaults did for strings.
  const given = (name: string): string | undefined => (env[name] === '' ? undefined : env[name])

  function readText(label: string, path: string): string | undefined {
    try {
      return readFile(path)
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code
      problems.push(`${label}: cannot read ${path}${typeof code === 'string' ? ` (${code})` : ''}`)
      return undefined
    }
  }

  function raw(variable: Variable): Raw {
    const plain = given(variable.name)
    const fileName = `${variable.name}_FILE`
    const file = variable.fromFile ? given(fileName) : undefined
    if (file === undefined) return plain === undefined ? 'unset' : { text: plain, label: variable.name }
    if (plain !== undefined) {
      problems.push(`${variable.name}: set either ${variable.name} or ${fileName}, not both`)
      return 'failed'
    }
    // Secrets mounted from Kubernetes usually end with a newline that is not part of the value.
    const content = readText(fileName, file)?.replace(/[\r\n]+$/, '')
    if (content === undefined) return 'failed'
    if (content !== '') return { text: content, label: fileName }
    problems.push(`${fileName}: file is empty`)
    return 'failed'
  }

  /** Parses `text`, recording a problem or warning under `label`; undefined when invalid. */
  function parse<T>(variable: Variable<T>, text: string, label: string): T | undefined {
    const parsed = variable.parse(text)
    if (!parsed.ok) {
      problems.push(`${label}: ${parsed.problem}`)
      return undefined
    }
    if (parsed.warning !== undefined) warnings.push(`${label}: ${parsed.warning}`)
    return parsed.value
  }

  /** Optional variable without a default: undefined when unset (or invalid, which is reported). */
  function optional<T>(variable: Variable<T>): T | undefined {
    const value = raw(variable)
    return typeof value === 'object' ? parse(variable, value.text, value.label) : undefined
  }

  /** Variable with a default; an invalid value is reported and the default stands in so loading can go on. */
  function withDefault<T>(variable: Variable<T>, fallback = variable.default as string): T {
    return optional(variable) ?? unwrap(variable.parse(fallback))
  }

  function required(variable: Variable<string>): string {
    const value = raw(variable)
    if (value === 'unset') problems.push(`${variable.name}: required`)
    return (typeof value === 'object' ? parse(variable, value.text, value.label) : undefined) ?? ''
  }

  /** KUBERNETES_TOKEN*: read only when KUBERNETES_TOKENS is on (each still validated when set). */
  function kubernetesTokens(issuer: string, audiences: readonly string[]): KubernetesTokens | undefined {
    const settings = {
      listed: optional(VARS.KUBERNETES_TOKEN_AUDIENCES) ?? audiences,
      apiAudience: withDefault(VARS.KUBERNETES_TOKEN_API_AUDIENCE),
      maxLifetimeSeconds: withDefault(VARS.KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS),
      tokenReview: withDefault(VARS.KUBERNETES_TOKENREVIEW),
      reviewCacheSeconds: withDefault(VARS.KUBERNETES_TOKENREVIEW_CACHE_SECONDS),
      legacy: withDefault(VARS.KUBERNETES_LEGACY_TOKENS),
    }
    if (!withDefault(VARS.KUBERNETES_TOKENS)) return undefined
    const { listed, apiAudience, ...rest } = settings
    // The API server's own audiences: every pod's mounted token carries one of them.
    const apiAudiences = [issuer, 'https://kubernetes.default.svc', 'https://kubernetes.default.svc.cluster.local', 'kubernetes.default.svc']
    const named = listed.filter((audience) => apiAudiences.includes(audience))
    if (named.length > 0 && !apiAudience) {
      problems.push(`KUBERNETES_TOKEN_AUDIENCES: ${named.join(', ')} is the API server's own audience, which every pod's mounted token carries; set KUBERNETES_TOKEN_API_AUDIENCE=true to accept it on purpose`)
    }
    if (apiAudience) {
      warnings.push("KUBERNETES_TOKEN_API_AUDIENCE: true; every pod's mounted service-account token is accepted through the gateway as its service account")
    }
    if (!rest.tokenReview) {
      warnings.push('KUBERNETES_TOKENREVIEW: false; a service-account token stays accepted until it expires, even after its service account or pod is deleted')
      if (rest.legacy) problems.push('KUBERNETES_LEGACY_TOKENS: needs KUBERNETES_TOKENREVIEW (a legacy token never expires; only a review sees its secret deleted)')
    }
    return { issuer, audiences: [...new Set(apiAudience ? [...listed, ...apiAudiences] : listed)], ...rest }
  }

  const urlPrefix = withDefault(VARS.AUTHSERVICE_URL_PREFIX)
  const derived = (variable: Variable<string>) =>
    withDefault(variable, (variable.default as string).replace(PREFIX_PLACEHOLDER, urlPrefix))

  /** The PEM text of the file a path variable names; unreadable or certificate-less files are problems. */
  function pemFile(variable: Variable<string>): string | undefined {
    const path = optional(variable)
    const pem = path === undefined ? undefined : readText(variable.name, path)
    if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----')) {
      problems.push(`${variable.name}: file holds no PEM certificate`)
    }
    return pem
  }

  const caBundle = pemFile(VARS.CA_BUNDLE)

  const issuer = required(VARS.OIDC_PROVIDER)
  // An entry naming OIDC_PROVIDER itself would otherwise replace it (same issuer, other audience).
  const extraIssuers = withDefault(VARS.EXTRA_JWT_ISSUERS)
  const audiences = withDefault(VARS.AUDIENCES)
  const clusterIssuer = withDefault(VARS.KUBERNETES_TOKEN_ISSUER)
  problems.push(...clusterIssuerProblems(extraIssuers, clusterIssuer))
  const others = extraIssuers.filter((extra) => extra.issuer !== issuer)
  const issuerRules = withDefault(VARS.EXTRA_JWT_ISSUER_RULES)
  problems.push(...issuerRuleProblems(issuerRules, issuer, others))
  const config: Config = {
    issuer,
    authUrl: optional(VARS.OIDC_AUTH_URL),
    clientId: required(VARS.CLIENT_ID),
    clientSecret: required(VARS.CLIENT_SECRET),
    redirectUrl: derived(VARS.REDIRECT_URL),
    scopes: withDefault(VARS.OIDC_SCOPES),
    caBundle,

    urlPrefix,
    skipAuthUrls: [...new Set([...withDefault(VARS.SKIP_AUTH_URLS), ...withDefault(VARS.SKIP_AUTH_URI)])],
    apiRoutes: withDefault(VARS.API_ROUTES),
    checkPathPrefix: withDefault(VARS.CHECK_PATH_PREFIX),
    afterLoginUrl: optional(VARS.AFTER_LOGIN_URL),
    afterLogoutUrl: derived(VARS.AFTER_LOGOUT_URL),

    userIdHeader: withDefault(VARS.USERID_HEADER),
    userIdPrefix: withDefault(VARS.USERID_PREFIX),
    userIdClaim: withDefault(VARS.USERID_CLAIM),
    userIdTransformers: withDefault(VARS.USERID_TRANSFORMERS),
    groupsHeader: withDefault(VARS.GROUPS_HEADER),
    groupsClaim: withDefault(VARS.GROUPS_CLAIM),
    idTokenHeader: withDefault(VARS.ID_TOKEN_HEADER),
    authHeader: withDefault(VARS.AUTH_HEADER),
    idTokenCookie: optional(VARS.ID_TOKEN_COOKIE),
    setAuthorizationHeader: withDefault(VARS.SET_AUTHORIZATION_HEADER),
    setXAuthRequest: withDefault(VARS.SET_XAUTHREQUEST),
    userPageApiToken: withDefault(VARS.USER_PAGE_API_TOKEN),

    groupsAllowlist: withDefault(VARS.GROUPS_ALLOWLIST),
    allowedEmailDomains: withDefault(VARS.ALLOWED_EMAIL_DOMAINS),
    requireEmailVerified: withDefault(VARS.REQUIRE_EMAIL_VERIFIED),

    extraIssuers: others.map((extra): ExtraIssuer => ({
      ...extra,
      rules: issuerRules.find((named) => named.issuer === extra.issuer)?.rules ?? DEFAULT_EXTRA_ISSUER_RULES,
    })),
    primaryExtraAudiences: extraIssuers
      .filter((extra) => extra.issuer === issuer)
      .flatMap((extra) => (extra.audience === '' ? audiences : [extra.audience])),
    jwtAlgorithms: withDefault(VARS.JWT_ALGORITHMS),
    clockSkewSeconds: withDefault(VARS.JWT_CLOCK_SKEW_SECONDS),
    maxTokenBytes: withDefault(VARS.MAX_TOKEN_BYTES),
    audiences,
    kubernetesTokens: kubernetesTokens(clusterIssuer, audiences),

    sessionCookieName: withDefault(VARS.SESSION_COOKIE_NAME),
    sessionMaxAgeSeconds: withDefault(VARS.SESSION_MAX_AGE),
    sessionSameSite: withDefault(VARS.SESSION_SAME_SITE),
    sessionCookieHttpOnly: withDefault(VARS.SESSION_COOKIE_HTTPONLY),
    secureCookies: withDefault(VARS.SECURE_COOKIES),
    sessionStoreType: withDefault(VARS.SESSION_STORE_TYPE),
    sessionSecrets: withDefault(VARS.SESSION_SECRETS),
    redisAddr: optional(VARS.SESSION_STORE_REDIS_ADDR),
    redisPassword: optional(VARS.SESSION_STORE_REDIS_PWD),
    redisDb: withDefault(VARS.SESSION_STORE_REDIS_DB),
    redisSentinelMasterName: optional(VARS.SESSION_STORE_REDIS_SENTINEL_MASTER_NAME),
    redisSentinelAddrs: optional(VARS.SESSION_STORE_REDIS_SENTINEL_ADDRS) ?? [],
    redisSentinelPassword: optional(VARS.SESSION_STORE_REDIS_SENTINEL_PWD),
    redisClusterAddrs: optional(VARS.SESSION_STORE_REDIS_CLUSTER_ADDRS) ?? [],
    redisUsername: optional(VARS.SESSION_STORE_REDIS_USERNAME),
    redisTls: withDefault(VARS.SESSION_STORE_REDIS_TLS),
    redisCaBundle: pemFile(VARS.SESSION_STORE_REDIS_CA_BUNDLE),

    serverHostname: withDefault(VARS.SERVER_HOSTNAME),
    readinessProbeHostname: withDefault(VARS.READINESS_PROBE_HOSTNAME),
    serverPort: withDefault(VARS.SERVER_PORT),
    readinessProbePort: withDefault(VARS.READINESS_PROBE_PORT),
    webServerPort: withDefault(VARS.WEB_SERVER_PORT),
    grpcPort: optional(VARS.GRPC_PORT),
    logLevel: withDefault(VARS.LOG_LEVEL),
    logAllowDecisions: withDefault(VARS.LOG_ALLOW_DECISIONS),
  }

  problems.push(...crossProblems(config), ...redisProblems(config, env), ...publishedSecretProblems(config))
  if (isPublishedSecret(config.clientSecret)) {
    warnings.push('CLIENT_SECRET: is a value published in public manifests; anyone can present it as this client to the provider — change it in Dex and here')
  }
  if (!config.requireEmailVerified) {
    warnings.push('REQUIRE_EMAIL_VERIFIED: false; an email the provider has not verified can become the user id')
  }
  if (config.sessionSecrets.length === 0) {
    if (isPublishedSecret(config.clientSecret)) {
      // Session keys derived from a secret printed in public manifests would let anyone forge a session.
      problems.push(
        'SESSION_SECRETS: required while CLIENT_SECRET is a value published in public manifests (sessions could be forged); set SESSION_SECRETS (openssl rand -base64 32) or change CLIENT_SECRET',
      )
    } else if (config.clientSecret.length < 24) {
      warnings.push('SESSION_SECRETS: not set and CLIENT_SECRET is short; session keys derived from it are weak — set SESSION_SECRETS')
    }
    warnings.push('SESSION_SECRETS: not set; session keys are derived from CLIENT_SECRET, so rotating it ends every session')
  }
  const unused = unimplementedSettings(env)
  if (unused.length > 0) {
    warnings.push(`accepted for compatibility but not implemented, so ignored: ${unused.join(', ')}`)
  }

  if (problems.length > 0) throw new ConfigError(problems)
  return deepFreeze({ config, warnings })
}

/** The in-cluster API server's names: an issuer on one of them is the cluster's service-account issuer. */
const KUBERNETES_HOSTS = /^kubernetes\.default\.svc(\.cluster\.local)?$/

/**
 * Issue 15, finding 9: as an extra issuer, the cluster's service-account tokens would be checked
 * offline only, with no TokenReview (a deleted service account's token stays valid until `exp`)
 * and no lifetime cap. They belong to the Kubernetes source (KUBERNETES_TOKENS), whatever it is set to.
 */
function clusterIssuerProblems(extraIssuers: readonly ExtraIssuerEntry[], clusterIssuer: string): string[] {
  return extraIssuers
    .filter((extra) => extra.issuer === clusterIssuer || KUBERNETES_HOSTS.test(new URL(extra.issuer).hostname))
    .map((extra) =>
      `EXTRA_JWT_ISSUERS: ${extra.issuer} is the cluster's service-account issuer, whose tokens would be checked offline only (no TokenReview, no lifetime cap); ` +
        'remove the entry and set KUBERNETES_TOKENS=true (deploy/components/kubernetes-tokens; KUBERNETES_TOKEN_ISSUER names the issuer)',
    )
}

/** Every EXTRA_JWT_ISSUER_RULES key must name an extra issuer: a rule for nothing is a typo that would leave the defaults in force unnoticed. */
function issuerRuleProblems(rules: readonly { issuer: string }[], primary: string, extraIssuers: readonly ExtraIssuerEntry[]): string[] {
  return rules.flatMap(({ issuer }) => {
    if (issuer === primary) return [`EXTRA_JWT_ISSUER_RULES: ${issuer} is OIDC_PROVIDER, whose identities follow USERID_CLAIM and ALLOWED_EMAIL_DOMAINS`]
    if (!extraIssuers.some((extra) => extra.issuer === issuer)) return [`EXTRA_JWT_ISSUER_RULES: ${issuer} is not in EXTRA_JWT_ISSUERS`]
    return []
  })
}

/** Keys and passwords printed in public (config/published-secrets.ts): anyone could forge a session or read the store. */
function publishedSecretProblems(config: Config): string[] {
  const problems = config.sessionSecrets.flatMap((key, index) =>
    isPublishedKey(key)
      ? [`SESSION_SECRETS: entry ${index + 1} is a value published in public manifests or docs (anyone could forge a session); generate one: openssl rand -base64 32`]
      : [],
  )
  for (const [name, password] of [['SESSION_STORE_REDIS_PWD', config.redisPassword], ['SESSION_STORE_REDIS_SENTINEL_PWD', config.redisSentinelPassword]]) {
    if (password !== undefined && isPublishedSecret(password)) {
      problems.push(`${name}: is a value published in public manifests or docs; set a password of your own (openssl rand -base64 32)`)
    }
  }
  return problems
}

/**
 * The Redis topology: exactly one address setting (one server, Sentinels or Cluster nodes), the
 * settings that only mean something beside another one, and database 0 for a Cluster (Redis Cluster
 * has no SELECT; a session written elsewhere than configured would be a silent surprise).
 */
function redisProblems(config: Config, env: Env): string[] {
  if (config.sessionStoreType !== 'redis') return []
  const problems: string[] = []
  const given = (name: string) => env[name] !== undefined && env[name] !== ''
  const addresses = ['SESSION_STORE_REDIS_ADDR', 'SESSION_STORE_REDIS_SENTINEL_ADDRS', 'SESSION_STORE_REDIS_CLUSTER_ADDRS'].filter(given)
  if (addresses.length === 0) {
    problems.push('SESSION_STORE_REDIS_ADDR: required when SESSION_STORE_TYPE is redis (or SESSION_STORE_REDIS_SENTINEL_ADDRS for Sentinel, SESSION_STORE_REDIS_CLUSTER_ADDRS for a Cluster)')
  }
  if (addresses.length > 1) {
    problems.push(`${addresses.join(', ')}: set exactly one of them (one Redis, its Sentinels, or its Cluster nodes)`)
  }
  const sentinel = given('SESSION_STORE_REDIS_SENTINEL_ADDRS')
  if (sentinel && config.redisSentinelMasterName === undefined) {
    problems.push('SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: required with SESSION_STORE_REDIS_SENTINEL_ADDRS (the name in the Sentinels\' "sentinel monitor <name>")')
  }
  for (const name of ['SESSION_STORE_REDIS_SENTINEL_MASTER_NAME', 'SESSION_STORE_REDIS_SENTINEL_PWD']) {
    if (!sentinel && (given(name) || given(`${name}_FILE`))) problems.push(`${name}: only used with SESSION_STORE_REDIS_SENTINEL_ADDRS, which is not set`)
  }
  if (given('SESSION_STORE_REDIS_CLUSTER_ADDRS') && config.redisDb !== 0) {
    problems.push('SESSION_STORE_REDIS_DB: must be 0 with SESSION_STORE_REDIS_CLUSTER_ADDRS (Redis Cluster has only database 0)')
  }
  if (config.redisUsername !== undefined && config.redisPassword === undefined) {
    problems.push('SESSION_STORE_REDIS_USERNAME: needs SESSION_STORE_REDIS_PWD (an ACL user logs in with AUTH <username> <password>)')
  }
  if (given('SESSION_STORE_REDIS_CA_BUNDLE') && !config.redisTls) {
    problems.push('SESSION_STORE_REDIS_CA_BUNDLE: only used with SESSION_STORE_REDIS_TLS=true, which is not set')
  }
  return problems
}

/** Rules that involve more than one variable. */
function crossProblems(config: Config): string[] {
  const problems: string[] = []
  if (config.sessionSameSite === 'None' && config.secureCookies === 'false') {
    problems.push('SESSION_SAME_SITE: None needs Secure cookies, but SECURE_COOKIES is false (browsers drop such cookies)')
  }
  if (config.serverPort === config.readinessProbePort) {
    problems.push('READINESS_PROBE_PORT: must differ from SERVER_PORT')
  }
  if (config.grpcPort !== undefined && [config.serverPort, config.readinessProbePort].includes(config.grpcPort)) {
    problems.push('GRPC_PORT: must differ from SERVER_PORT and READINESS_PROBE_PORT')
  }
  // One header cannot carry both, and the same answer would set and remove it.
  if (config.groupsHeader === config.userIdHeader) {
    problems.push('GROUPS_HEADER: must differ from USERID_HEADER')
  }
  return problems
}

/** Names of set (non-empty) variables we accept but do not act on; `X_*` rows match by prefix. */
function unimplementedSettings(env: Env): string[] {
  const set = Object.keys(env).filter((name) => env[name] !== '' && env[name] !== undefined)
  return VARIABLES.filter((variable) => variable.use === 'unimplemented').flatMap(({ name }) =>
    name.endsWith('*') ? set.filter((key) => key.startsWith(name.slice(0, -1))).sort() : set.filter((key) => key === name),
  )
}

/**
 * Freezes plain objects and arrays all the way down. RegExps stay unfrozen: replace() with a global
 * RegExp writes its lastIndex, which throws on a frozen one. Typed arrays cannot be frozen at all.
 */
function deepFreeze<T>(value: T): T {
  if (value instanceof Object && !(value instanceof RegExp) && !ArrayBuffer.isView(value)) {
    for (const member of Object.values(value)) deepFreeze(member)
    Object.freeze(value)
  }
  return value
}
