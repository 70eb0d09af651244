/**
 * The one table of every environment variable the service reads: name, default, meaning, whether
 * it is secret, and how it parses. config/load.ts reads through it and `authservice --help` prints
 * it, so a variable missing here is neither read nor documented. Names and defaults are those of
 * arrikto/oidc-authservice e236439 (what Kubeflow 1.7–1.9 shipped).
 */
import * as p from './parse.js'
import type { LogLevel, SecureCookies } from './types.js'

/**
 * `read`: parsed into the config. `ignored`: legacy Kubeflow values (`PORT`, `STORE_PATH`), tolerated
 * silently. `unimplemented`: oidc-authservice settings we accept but do not act on, named in one
 * startup warning when set. A name ending in `*` stands for every variable with that prefix.
 */
export type VariableUse = 'read' | 'ignored' | 'unimplemented'

export interface Variable<T = unknown> {
  readonly name: string
  /** Text used when unset or empty; undefined = no default. `<AUTHSERVICE_URL_PREFIX>` is replaced by the prefix. */
  readonly default: string | undefined
  readonly description: string
  /** Never printed: not in problems, warnings, logs or help defaults. */
  readonly secret: boolean
  /** Unset or empty is a problem. */
  readonly required: boolean
  /** `<NAME>_FILE` may name a file holding the value instead (Kubernetes secret mounts). */
  readonly fromFile: boolean
  readonly use: VariableUse
  readonly parse: p.Parser<T>
}

/** Placeholder in derived defaults (REDIRECT_URL, AFTER_LOGOUT_URL). */
export const PREFIX_PLACEHOLDER = '<AUTHSERVICE_URL_PREFIX>'

interface Options {
  readonly secret?: boolean
  readonly required?: boolean
  readonly fromFile?: boolean
  readonly use?: VariableUse
}

function v<T>(
  name: string,
  dflt: string | undefined,
  parse: p.Parser<T>,
  description: string,
  options: Options = {},
): Variable<T> {
  const { secret = false, required = false, fromFile = false, use = 'read' } = options
  return { name, default: dflt, description, secret, required, fromFile, use, parse }
}

const unimplemented = (name: string, description: string) =>
  v(name, undefined, p.text, `${description} Accepted for compatibility, not implemented (warns when set).`, {
    use: 'unimplemented',
  })

const port = p.integer(1, 65535)
const paths = p.list(p.path)
/**
 * Kubeflow's APIs, called by its web apps and SDKs, never navigated to: the dashboard's and every
 * web app's `…/api/` (notebooks, volumes, tensorboards, models), Kubernetes-style `…/apis/`
 * (pipelines), ML Metadata's gRPC-web service, Katib's `fetch_…`/`create_…` handlers and the
 * Pipelines UI's own backend calls.
 */
const KUBEFLOW_API_ROUTES = '/api/,/apis/,^/ml_metadata,^/katib/[a-z]+_[a-z_]+/,^/pipeline/system/,^/pipeline/k8s/,^/pipeline/visualizations/'
const words = p.list(p.text)
/** SECURE_COOKIES also takes Go's boolean spellings (lower-cased by `choice`). */
const secureCookies = p.choice<SecureCookies>({ auto: 'auto', true: 'true', t: 'true', 1: 'true', false: 'false', f: 'false', 0: 'false' })
/** logrus's `panic` level (oidc-authservice) maps to fatal; `warning` to warn. */
const logLevel = p.choice<LogLevel>({
  fatal: 'fatal', panic: 'fatal', error: 'error', warn: 'warn', warning: 'warn',
  info: 'info', debug: 'debug', trace: 'trace', silent: 'silent',
})

/** Every variable, keyed by its name (the loader reads them by key; a test checks key = name). */
export const VARS = {
  // --- OIDC provider and client ---
  OIDC_PROVIDER: v('OIDC_PROVIDER', undefined, p.issuerUrl,
    'Issuer URL of the OIDC provider; must equal the discovered issuer exactly. http is allowed (in-cluster Dex) with a warning.',
    { required: true }),
  OIDC_AUTH_URL: v('OIDC_AUTH_URL', undefined, p.urlOrPath,
    'Authorization endpoint sent to browsers instead of the discovered one; may be a path (Kubeflow: /dex/auth).'),
  CLIENT_ID: v('CLIENT_ID', undefined, p.text,
    'OAuth client id; also the audience ID tokens must carry.', { required: true }),
  CLIENT_SECRET: v('CLIENT_SECRET', undefined, p.text,
    'OAuth client secret, used for the code exchange.', { required: true, secret: true, fromFile: true }),
  REDIRECT_URL: v('REDIRECT_URL', `${PREFIX_PLACEHOLDER}oidc/callback`, p.urlOrPath,
    'redirect_uri sent to the provider, byte-for-byte; may be a path.'),
  OIDC_SCOPES: v('OIDC_SCOPES', 'openid,email', p.scopes,
    'Scopes to request, separated by commas or spaces; openid is always requested first.'),
  CA_BUNDLE: v('CA_BUNDLE', undefined, p.text,
    'Path of a PEM file of extra CA certificates trusted for calls to the provider(s).'),

  // --- URLs and paths ---
  AUTHSERVICE_URL_PREFIX: v('AUTHSERVICE_URL_PREFIX', '/authservice/', p.urlPrefix,
    "Public path or URL of the service's own endpoints (logout, sign_out, start, site/after_logout); a trailing / is added. Any other path under it is checked like every path."),
  SKIP_AUTH_URLS: v('SKIP_AUTH_URLS', '', paths,
    'Comma list of path prefixes allowed without authentication (Kubeflow: /dex).'),
  SKIP_AUTH_URI: v('SKIP_AUTH_URI', '', p.list(p.path, p.splitWords),
    'Legacy space-separated form of SKIP_AUTH_URLS (oidc-authservice 28c59ef); merged with it.'),
  API_ROUTES: v('API_ROUTES', KUBEFLOW_API_ROUTES, p.list(p.regexSource),
    'Comma list of regular expressions, each matched anywhere in the normalised path (as oauth2-proxy api_routes): a match is an API call, answered 401 instead of a login redirect.'),
  CHECK_PATH_PREFIX: v('CHECK_PATH_PREFIX', '', p.checkPathPrefix,
    'Prefix Envoy adds to checked paths (ext_authz path_prefix), stripped before matching.'),
  AFTER_LOGIN_URL: v('AFTER_LOGIN_URL', undefined, p.urlOrPath,
    'When set, login ends at AFTER_LOGIN_URL?next=<original path and query>.'),
  AFTER_LOGOUT_URL: v('AFTER_LOGOUT_URL', `${PREFIX_PLACEHOLDER}site/after_logout`, p.urlOrPath,
    'Where the browser goes after logout (Kubeflow 1.8+ sets /).'),

  // --- Identity headers and claims ---
  USERID_HEADER: v('USERID_HEADER', 'kubeflow-userid', p.headerName,
    'Header that carries the user id to the upstream.'),
  USERID_PREFIX: v('USERID_PREFIX', '', p.text, 'Text put before the user id.'),
  USERID_CLAIM: v('USERID_CLAIM', 'email', p.text, 'Claim used as the user id.'),
  USERID_TRANSFORMERS: v('USERID_TRANSFORMERS', '[]', p.userIdTransformers,
    'JSON array of {"matches": "<regexp>", "replaces": "<replacement>"}; the first matching rule rewrites the user id. ' +
      'Patterns are JavaScript regular expressions; a leading (?i) makes one case-insensitive.'),
  GROUPS_HEADER: v('GROUPS_HEADER', 'kubeflow-groups', p.headerName,
    'Header that carries the comma-joined groups to the upstream.'),
  GROUPS_CLAIM: v('GROUPS_CLAIM', 'groups', p.text,
    'Claim holding the user\'s groups (a JSON array of strings).'),
  ID_TOKEN_HEADER: v('ID_TOKEN_HEADER', 'Authorization', p.headerName, 'Header checked for a bearer JWT.'),
  AUTH_HEADER: v('AUTH_HEADER', 'Authorization', p.headerName,
    'Header that may carry a session value instead of the cookie.'),
  ID_TOKEN_COOKIE: v('ID_TOKEN_COOKIE', undefined, p.cookieName,
    'Name of a cookie holding an ID token to accept; unset = off.'),
  SET_AUTHORIZATION_HEADER: v('SET_AUTHORIZATION_HEADER', 'false', p.bool,
    'Send `authorization: Bearer <ID token>` to the upstream (Kubeflow 1.9+ style).'),
  SET_XAUTHREQUEST: v('SET_XAUTHREQUEST', 'false', p.bool,
    'Send oauth2-proxy\'s X-Auth-Request-User (the user id), -Email and -Groups to the upstream (client-sent ones are always removed).'),
  USER_PAGE_API_TOKEN: v('USER_PAGE_API_TOKEN', 'false', p.bool,
    'Offer a "copy API token" button on the user page (<AUTHSERVICE_URL_PREFIX>me): a same-origin POST <AUTHSERVICE_URL_PREFIX>me/token hands the signed-in user their current ID token for the SDK (off: 404).'),

  // --- Authorization policy ---
  GROUPS_ALLOWLIST: v('GROUPS_ALLOWLIST', '*', words,
    'Comma list of groups allowed in; * allows every authenticated user.'),
  ALLOWED_EMAIL_DOMAINS: v('ALLOWED_EMAIL_DOMAINS', '', p.list((domain) => p.ok(domain.toLowerCase())),
    'Comma list of email domains allowed in; empty allows any.'),
  REQUIRE_EMAIL_VERIFIED: v('REQUIRE_EMAIL_VERIFIED', 'true', p.bool,
    'When the user id is the email claim, only an email_verified of JSON true lets the user in (false: email_verified is not looked at; warns).'),

  // --- JWT verification ---
  EXTRA_JWT_ISSUERS: v('EXTRA_JWT_ISSUERS', '', p.list(p.extraIssuer),
    'Comma list of issuer=audience pairs whose bearer JWTs are also accepted; a bare issuer takes AUDIENCES. ' +
      'An entry naming OIDC_PROVIDER adds an audience for its bearer tokens (logins still need CLIENT_ID). ' +
      'The cluster\'s service-account issuer is refused: use KUBERNETES_TOKENS (TokenReview, lifetime cap).'),
  EXTRA_JWT_ISSUER_RULES: v('EXTRA_JWT_ISSUER_RULES', '{}', p.extraIssuerRules,
    'JSON object keyed by EXTRA_JWT_ISSUERS issuer URL: {"useridClaim": "<claim>", "emailDomains": "apply" | "skip"}. ' +
      'Default for every extra issuer: the user id is its sub, and ALLOWED_EMAIL_DOMAINS applies (an identity without an email is refused when it is set).'),
  JWT_ALGORITHMS: v('JWT_ALGORITHMS', 'RS256', p.jwtAlgorithms,
    'Comma list of accepted JWT signature algorithms (RS*, PS*, ES*, EdDSA; never none or HS*).'),
  JWT_CLOCK_SKEW_SECONDS: v('JWT_CLOCK_SKEW_SECONDS', '30', p.integer(0, 300),
    'Clock skew tolerated when checking exp, nbf and iat, in seconds (0-300).'),
  MAX_TOKEN_BYTES: v('MAX_TOKEN_BYTES', '16384', p.integer(1024, 49152),
    'Largest bearer token looked at, in bytes (1024-49152).'),
  AUDIENCES: v('AUDIENCES', 'istio-ingressgateway.istio-system.svc.cluster.local', words,
    'Comma list of audiences accepted from EXTRA_JWT_ISSUERS entries given without =audience; the default of KUBERNETES_TOKEN_AUDIENCES.'),

  // --- Kubernetes service-account tokens (machine to machine) ---
  KUBERNETES_TOKENS: v('KUBERNETES_TOKENS', 'false', p.bool,
    'Accept Kubernetes service-account tokens as bearer tokens (kubectl create token): signature checked against the API server\'s /openid/v1/jwks, then a TokenReview.'),
  KUBERNETES_TOKEN_ISSUER: v('KUBERNETES_TOKEN_ISSUER', 'https://kubernetes.default.svc.cluster.local', p.text,
    'The `iss` of the cluster\'s service-account tokens (kubectl get --raw /.well-known/openid-configuration; EKS: the cluster\'s OIDC issuer URL).'),
  KUBERNETES_TOKEN_AUDIENCES: v('KUBERNETES_TOKEN_AUDIENCES', undefined, words,
    'Comma list of audiences a service-account token must carry one of; empty = AUDIENCES.'),
  KUBERNETES_TOKEN_API_AUDIENCE: v('KUBERNETES_TOKEN_API_AUDIENCE', 'false', p.bool,
    'Also accept tokens for the API server\'s own audience, which every pod\'s mounted token carries (warns): any pod could call through the gateway as its service account.'),
  KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS: v('KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS', '86400', p.integer(60),
    'Longest lifetime (exp - iat) of a service-account token accepted, in seconds.'),
  KUBERNETES_TOKENREVIEW: v('KUBERNETES_TOKENREVIEW', 'true', p.bool,
    'Confirm each service-account token with a TokenReview (a deleted service account or pod is refused); false trusts the signature alone (warns).'),
  KUBERNETES_TOKENREVIEW_CACHE_SECONDS: v('KUBERNETES_TOKENREVIEW_CACHE_SECONDS', '10', p.integer(0, 60),
    'How long a successful TokenReview is reused, in seconds (0-60); refusals and failures are never cached.'),
  KUBERNETES_LEGACY_TOKENS: v('KUBERNETES_LEGACY_TOKENS', 'false', p.bool,
    'Also accept legacy secret-based service-account tokens (issuer kubernetes/serviceaccount, no exp); needs KUBERNETES_TOKENREVIEW.'),

  // --- Sessions ---
  SESSION_COOKIE_NAME: v('SESSION_COOKIE_NAME', 'authservice_session', p.cookieName,
    'Name of the session cookie.'),
  SESSION_MAX_AGE: v('SESSION_MAX_AGE', '86400', p.integer(60), 'Session lifetime in seconds (at least 60).'),
  SESSION_SAME_SITE: v('SESSION_SAME_SITE', 'Lax', p.sameSite,
    'SameSite of the session cookie: None, Strict or Lax (anything else means Lax).'),
  SESSION_COOKIE_HTTPONLY: v('SESSION_COOKIE_HTTPONLY', 'true', p.bool, 'Mark the session cookie HttpOnly.'),
  SECURE_COOKIES: v('SECURE_COOKIES', 'auto', secureCookies,
    'Mark cookies Secure: auto (when the request came over https), true or false.'),
  SESSION_STORE_TYPE: v('SESSION_STORE_TYPE', 'cookie', p.choice({ cookie: 'cookie', redis: 'redis' } as const),
    'Where sessions live: cookie (encrypted in the cookie) or redis.'),
  SESSION_SECRETS: v('SESSION_SECRETS', '', p.list(p.base64Key(32)),
    'Comma list of base64 keys (32+ bytes each) for sessions; the first encrypts, all decrypt. Empty = derived from CLIENT_SECRET, refused while that is a published one. A key ever published (manifests, docs) is refused.',
    { secret: true, fromFile: true }),
  SESSION_STORE_REDIS_ADDR: v('SESSION_STORE_REDIS_ADDR', undefined, p.hostPort,
    'Redis host:port; required when SESSION_STORE_TYPE is redis.'),
  SESSION_STORE_REDIS_PWD: v('SESSION_STORE_REDIS_PWD', undefined, p.text,
    'Redis password; a value ever published (manifests, docs) is refused.', { secret: true, fromFile: true }),
  SESSION_STORE_REDIS_DB: v('SESSION_STORE_REDIS_DB', '0', p.integer(0), 'Redis database number (0 with a Cluster, which has no other).'),
  SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: v('SESSION_STORE_REDIS_SENTINEL_MASTER_NAME', undefined, p.text,
    'Name of the master the Sentinels monitor (sentinel monitor <name> …); required with SESSION_STORE_REDIS_SENTINEL_ADDRS.'),
  SESSION_STORE_REDIS_SENTINEL_ADDRS: v('SESSION_STORE_REDIS_SENTINEL_ADDRS', undefined, p.hostPorts,
    'Comma list of Redis Sentinel host:port addresses, instead of SESSION_STORE_REDIS_ADDR: the master is asked of them and followed through a failover.'),
  SESSION_STORE_REDIS_SENTINEL_PWD: v('SESSION_STORE_REDIS_SENTINEL_PWD', undefined, p.text,
    'Password of the Sentinels themselves (their requirepass), when they have one.', { secret: true, fromFile: true }),
  SESSION_STORE_REDIS_CLUSTER_ADDRS: v('SESSION_STORE_REDIS_CLUSTER_ADDRS', undefined, p.hostPorts,
    'Comma list of host:port addresses of Redis Cluster nodes (some are enough, the rest are discovered), instead of SESSION_STORE_REDIS_ADDR.'),
  SESSION_STORE_REDIS_USERNAME: v('SESSION_STORE_REDIS_USERNAME', undefined, p.text,
    'Redis ACL user (AUTH <username> <password>, Redis 6+); needs SESSION_STORE_REDIS_PWD. Unset = the default user.'),
  SESSION_STORE_REDIS_TLS: v('SESSION_STORE_REDIS_TLS', 'false', p.bool,
    'Connect to Redis (and the Sentinels) over TLS, verifying the server certificate against the system CAs and SESSION_STORE_REDIS_CA_BUNDLE.'),
  SESSION_STORE_REDIS_CA_BUNDLE: v('SESSION_STORE_REDIS_CA_BUNDLE', undefined, p.text,
    'Path of a PEM file of CA certificates trusted for Redis TLS (a private CA); needs SESSION_STORE_REDIS_TLS=true.'),

  // --- Server ---
  SERVER_HOSTNAME: v('SERVER_HOSTNAME', '', p.text, 'Address the check (and gRPC) server listens on; empty = all interfaces.'),
  SERVER_PORT: v('SERVER_PORT', '8080', port, 'Port of the ext_authz check server.'),
  READINESS_PROBE_HOSTNAME: v('READINESS_PROBE_HOSTNAME', '', p.text,
    'Address the readiness server (/healthz, /readyz, /metrics) listens on; empty = all interfaces, whatever SERVER_HOSTNAME says.'),
  READINESS_PROBE_PORT: v('READINESS_PROBE_PORT', '8081', port,
    'Port of the readiness server; must differ from SERVER_PORT.'),
  GRPC_PORT: v('GRPC_PORT', undefined, port,
    'Port of the gRPC ext_authz server (envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health, plaintext HTTP/2) on SERVER_HOSTNAME; empty = off.'),
  WEB_SERVER_PORT: v('WEB_SERVER_PORT', '8082', port,
    'Port of oidc-authservice\'s web server, accepted for compatibility.'),
  LOG_LEVEL: v('LOG_LEVEL', 'info', logLevel,
    'Log level: fatal, error, warn, info, debug, trace or silent (case-insensitive).'),
  LOG_ALLOW_DECISIONS: v('LOG_ALLOW_DECISIONS', 'all', p.allowLogging,
    'Which allowed decisions are logged: all (each at info), debug (at debug level only), or 1-in-N (one allow in N at info, with sampled: N). Every deny, login redirect and unavailable answer is always logged.'),

  // --- Legacy values Kubeflow's params.env still sets; oidc-authservice e236439 ignored them too ---
  PORT: v('PORT', undefined, p.text, 'Legacy (Kubeflow params.env); ignored.', { use: 'ignored' }),
  STORE_PATH: v('STORE_PATH', undefined, p.text,
    'Legacy BoltDB path (Kubeflow params.env); ignored.', { use: 'ignored' }),

  // --- oidc-authservice settings we accept but do not implement ---
  STRICT_SESSION_VALIDATION: unimplemented('STRICT_SESSION_VALIDATION', 'Re-check every session against userinfo.'),
  HOMEPAGE_URL: unimplemented('HOMEPAGE_URL', 'oidc-authservice homepage.'),
  THEME: unimplemented('THEME', 'oidc-authservice page theme.'),
  THEMES_URL: unimplemented('THEMES_URL', 'oidc-authservice theme assets URL.'),
  TEMPLATE_PATH: unimplemented('TEMPLATE_PATH', 'oidc-authservice template directories.'),
  'TEMPLATE_CONTEXT_*': unimplemented('TEMPLATE_CONTEXT_*', 'oidc-authservice template values.'),
  CLIENT_NAME: unimplemented('CLIENT_NAME', 'Display name in oidc-authservice pages.'),
  OIDC_STATE_STORE_PATH: unimplemented('OIDC_STATE_STORE_PATH', 'BoltDB file for login state.'),
  SESSION_STORE_PATH: unimplemented('SESSION_STORE_PATH', 'BoltDB file for sessions.'),
  USERID_TOKEN_HEADER: unimplemented('USERID_TOKEN_HEADER', 'Header for the raw ID token (unused since e9549c5).'),
  VERIFY_AUTH_URL: unimplemented('VERIFY_AUTH_URL', 'nginx auth_request endpoint (oidc-authservice master).'),
  EXTERNAL_AUTHZ_URL: unimplemented('EXTERNAL_AUTHZ_URL', 'External authorizer (oidc-authservice master).'),
  STATIC_DESTINATION_URL: unimplemented('STATIC_DESTINATION_URL', 'Legacy fixed after-login destination (28c59ef).'),
} as const

/** The table, in help order. */
export const VARIABLES: readonly Variable[] = Object.values(VARS)

export interface VariableDescription {
  readonly name: string
  readonly default: string | undefined
  readonly description: string
  readonly secret: boolean
  readonly required: boolean
}

/** Rows for `authservice --help`; each `fromFile` variable is followed by its `_FILE` row. */
export function describeVariables(): VariableDescription[] {
  return VARIABLES.flatMap(({ name, default: dflt, description, secret, required, fromFile }) => {
    const row = { name, default: dflt, description, secret, required }
    if (!fromFile) return [row]
    const fileRow = {
      name: `${name}_FILE`,
      default: undefined,
      description: `File whose content (trailing newline removed) is used as ${name}; set one or the other.`,
      secret: false,
      required: false,
    }
    return [row, fileRow]
  })
}
