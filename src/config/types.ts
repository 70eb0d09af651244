/**
 * The validated configuration: what `loadConfig` (config/load.ts) turns the environment into.
 * Frozen, read once at startup; every field is already parsed, so nothing re-parses per request.
 * Variable names and defaults follow arrikto/oidc-authservice e236439 (see config/schema.ts).
 */

/** A `USERID_TRANSFORMERS` rule: the first rule whose pattern matches rewrites the user id. */
export interface UserIdTransformer {
  /** Compiled from `matches` (a leading Go-style `(?i)` becomes the `i` flag); global flag set. */
  readonly matches: RegExp
  /** Replacement string; `$1` expands as in Go's ReplaceAllString. */
  readonly replaces: string
}

/** An `EXTRA_JWT_ISSUERS` entry as written (`issuer=audience`, or a bare issuer: audience '' = use AUDIENCES). */
export interface ExtraIssuerEntry {
  readonly issuer: string
  readonly audience: string
}

/**
 * EXTRA_JWT_ISSUER_RULES for one issuer: how its tokens become an identity. The defaults are the
 * safe ones: `sub` (an issuer's own name for the user, never an email it may assert for anyone)
 * and `apply` (ALLOWED_EMAIL_DOMAINS governs its identities, and refuses one without an email).
 */
export interface ExtraIssuerRules {
  /** The claim that becomes the user id (default `sub`); no fallback to another claim. */
  readonly useridClaim: string
  /** `apply` (default): ALLOWED_EMAIL_DOMAINS governs these identities; `skip`: GROUPS_ALLOWLIST alone does. */
  readonly emailDomains: 'apply' | 'skip'
}

/** An extra issuer with its rules (EXTRA_JWT_ISSUER_RULES, defaults applied). */
export interface ExtraIssuer extends ExtraIssuerEntry {
  readonly rules: ExtraIssuerRules
}

export type SameSite = 'Lax' | 'Strict' | 'None'
export type SecureCookies = 'auto' | 'true' | 'false'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
/** LOG_ALLOW_DECISIONS: every allow at info, allows at debug only, or one allow in `every` at info. */
export type AllowLogging = { readonly mode: 'all' } | { readonly mode: 'debug' } | { readonly mode: 'sample'; readonly every: number }

export interface Config {
  // --- OIDC provider and client ---
  /** OIDC_PROVIDER: issuer URL, exact (no trailing-slash normalisation beyond discovery URL building). */
  readonly issuer: string
  /** OIDC_AUTH_URL: overrides the discovered authorization endpoint; may be relative (`/dex/auth`). */
  readonly authUrl: string | undefined
  /** CLIENT_ID: also the audience ID tokens must carry. */
  readonly clientId: string
  /** CLIENT_SECRET (or CLIENT_SECRET_FILE). May be empty only if the provider allows it. */
  readonly clientSecret: string
  /** REDIRECT_URL: exactly what is sent as redirect_uri; default `<prefix>oidc/callback`; may be relative. */
  readonly redirectUrl: string
  /** OIDC_SCOPES: comma or space list; `openid` forced first. */
  readonly scopes: readonly string[]
  /** CA_BUNDLE: PEM text added to the system roots for calls to the provider(s). */
  readonly caBundle: string | undefined

  // --- URLs and paths ---
  /** AUTHSERVICE_URL_PREFIX: always ends with `/` (default `/authservice/`); its path is a skip path. */
  readonly urlPrefix: string
  /** SKIP_AUTH_URLS (+ legacy SKIP_AUTH_URI): path prefixes answered 200 without authentication. Does not include the prefix path. */
  readonly skipAuthUrls: readonly string[]
  /** API_ROUTES: regular expressions (sources, checked to compile), matched anywhere in the normalised path: API calls. */
  readonly apiRoutes: readonly string[]
  /** CHECK_PATH_PREFIX: stripped from the checked path when Envoy adds a `path_prefix`. Default empty. */
  readonly checkPathPrefix: string
  /** AFTER_LOGIN_URL: when set, login ends at `AFTER_LOGIN_URL?next=<original path+query>`. */
  readonly afterLoginUrl: string | undefined
  /** AFTER_LOGOUT_URL: returned by logout (default `<prefix>site/after_logout`, as oidc-authservice). */
  readonly afterLogoutUrl: string

  // --- Identity headers and claims ---
  readonly userIdHeader: string // USERID_HEADER, lower-cased
  readonly userIdPrefix: string // USERID_PREFIX
  readonly userIdClaim: string // USERID_CLAIM
  readonly userIdTransformers: readonly UserIdTransformer[] // USERID_TRANSFORMERS
  readonly groupsHeader: string // GROUPS_HEADER, lower-cased
  readonly groupsClaim: string // GROUPS_CLAIM
  /** ID_TOKEN_HEADER: header carrying a bearer JWT (default `authorization`), lower-cased. */
  readonly idTokenHeader: string
  /** AUTH_HEADER: header carrying a session value (default `authorization`), lower-cased. */
  readonly authHeader: string
  /** ID_TOKEN_COOKIE: name of a cookie holding a Dex JWT; undefined = off. */
  readonly idTokenCookie: string | undefined
  /** SET_AUTHORIZATION_HEADER: allows carry `authorization: Bearer <Dex id_token>` (Kubeflow ≥ 1.9). */
  readonly setAuthorizationHeader: boolean
  /** SET_XAUTHREQUEST: allows carry oauth2-proxy's `x-auth-request-user` (the user id), `-email`, `-groups`. */
  readonly setXAuthRequest: boolean
  /** USER_PAGE_API_TOKEN: the user page offers the current ID token (POST <prefix>me/token); off = 404. */
  readonly userPageApiToken: boolean

  // --- Authorization policy ---
  /** GROUPS_ALLOWLIST: `['*']` allows every authenticated user. */
  readonly groupsAllowlist: readonly string[]
  /** ALLOWED_EMAIL_DOMAINS: lower-case domains; empty = any. */
  readonly allowedEmailDomains: readonly string[]
  /** REQUIRE_EMAIL_VERIFIED (true): a user id taken from `email` needs `email_verified: true` (the JSON boolean). */
  readonly requireEmailVerified: boolean

  // --- JWT verification ---
  /** EXTRA_JWT_ISSUERS entries naming another issuer than OIDC_PROVIDER, each with its EXTRA_JWT_ISSUER_RULES. */
  readonly extraIssuers: readonly ExtraIssuer[]
  /**
   * EXTRA_JWT_ISSUERS entries naming OIDC_PROVIDER itself: audiences its bearer tokens may carry
   * besides CLIENT_ID (a bare entry adds AUDIENCES). Never for the login callback or refresh.
   */
  readonly primaryExtraAudiences: readonly string[]
  readonly jwtAlgorithms: readonly string[] // JWT_ALGORITHMS (default RS256; never none or HS*)
  readonly clockSkewSeconds: number // JWT_CLOCK_SKEW_SECONDS (default 30)
  readonly maxTokenBytes: number // MAX_TOKEN_BYTES (default 16384)
  /** AUDIENCES: audiences accepted from EXTRA_JWT_ISSUERS entries given without `=audience` (service-account tokens). */
  readonly audiences: readonly string[]
  /** KUBERNETES_TOKENS and the KUBERNETES_TOKEN* settings; undefined = service-account tokens are not accepted. */
  readonly kubernetesTokens: KubernetesTokens | undefined

  // --- Sessions (used by the login issue; parsed and validated here) ---
  readonly sessionCookieName: string // SESSION_COOKIE_NAME (authservice_session)
  readonly sessionMaxAgeSeconds: number // SESSION_MAX_AGE (86400)
  readonly sessionSameSite: SameSite // SESSION_SAME_SITE (Lax)
  readonly sessionCookieHttpOnly: boolean // SESSION_COOKIE_HTTPONLY (true)
  readonly secureCookies: SecureCookies // SECURE_COOKIES (auto)
  readonly sessionStoreType: 'cookie' | 'redis' // SESSION_STORE_TYPE
  /** SESSION_SECRETS: decoded keys (≥ 32 bytes each); empty = derive from CLIENT_SECRET. */
  readonly sessionSecrets: readonly Uint8Array[]
  readonly redisAddr: string | undefined // SESSION_STORE_REDIS_ADDR
  readonly redisPassword: string | undefined // SESSION_STORE_REDIS_PWD
  readonly redisDb: number // SESSION_STORE_REDIS_DB
  /** SESSION_STORE_REDIS_SENTINEL_MASTER_NAME: the master group the Sentinels monitor. */
  readonly redisSentinelMasterName: string | undefined
  /** SESSION_STORE_REDIS_SENTINEL_ADDRS: host:port of each Sentinel; empty = no Sentinel. */
  readonly redisSentinelAddrs: readonly string[]
  readonly redisSentinelPassword: string | undefined // SESSION_STORE_REDIS_SENTINEL_PWD
  /** SESSION_STORE_REDIS_CLUSTER_ADDRS: host:port of some Cluster nodes; empty = no Cluster. */
  readonly redisClusterAddrs: readonly string[]
  readonly redisUsername: string | undefined // SESSION_STORE_REDIS_USERNAME (ACL user)
  readonly redisTls: boolean // SESSION_STORE_REDIS_TLS (false)
  /** SESSION_STORE_REDIS_CA_BUNDLE: PEM text of the CAs trusted for Redis TLS, besides the system ones. */
  readonly redisCaBundle: string | undefined

  // --- Server ---
  readonly serverHostname: string // SERVER_HOSTNAME ('' = all interfaces → '0.0.0.0')
  /** READINESS_PROBE_HOSTNAME: address of the ops server ('' = all interfaces → '0.0.0.0'). */
  readonly readinessProbeHostname: string
  readonly serverPort: number // SERVER_PORT (8080)
  readonly readinessProbePort: number // READINESS_PROBE_PORT (8081)
  readonly webServerPort: number // WEB_SERVER_PORT (8082), accepted for compatibility
  /** GRPC_PORT: the gRPC ext_authz server; undefined = off. */
  readonly grpcPort: number | undefined
  readonly logLevel: LogLevel // LOG_LEVEL (info)
  readonly logAllowDecisions: AllowLogging // LOG_ALLOW_DECISIONS (all)
}

/** How Kubernetes service-account tokens are accepted (KUBERNETES_TOKENS=true). */
export interface KubernetesTokens {
  readonly issuer: string // KUBERNETES_TOKEN_ISSUER
  /** KUBERNETES_TOKEN_AUDIENCES (default AUDIENCES), plus the API server's own with KUBERNETES_TOKEN_API_AUDIENCE. */
  readonly audiences: readonly string[]
  readonly maxLifetimeSeconds: number // KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS (86400)
  readonly tokenReview: boolean // KUBERNETES_TOKENREVIEW (true)
  readonly reviewCacheSeconds: number // KUBERNETES_TOKENREVIEW_CACHE_SECONDS (10, at most 60)
  readonly legacy: boolean // KUBERNETES_LEGACY_TOKENS (false)
}

/** What loading produced beside the config: notes for the one startup warning. */
export interface LoadedConfig {
  readonly config: Config
  /** Human-readable warnings (ignored legacy settings, plain-http issuer, derived session key …). */
  readonly warnings: readonly string[]
}
