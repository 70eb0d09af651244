/**
 * The composition root: turns a validated Config and the outside-world seams (logger, fetch,
 * clock, Kubernetes credentials) into the running pieces — issuers, verifier, checker, the two
 * fastify apps — and owns their lifecycle. server.ts calls it with real dependencies; tests with
 * their own.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { buildCheckApp, buildOpsApp } from './app.js'
import { createChecker, type CheckOptions, type CheckRequest, type CheckResult } from './check/pipeline.js'
import { createHandler, createReplayer, type HandledCheck, type ReplayedCheck } from './check/handle.js'
import { createResponder } from './check/respond.js'
import { createEndpointMatcher } from './check/endpoints.js'
import { createLoginHandlers } from './login/handlers.js'
import { createTokenClient } from './oidc/token-client.js'
import { createSessionStore } from './session/create-store.js'
import { deriveKeys } from './session/keys.js'
import { createSessionAuthenticator } from './session/session-auth.js'
import type { SessionStore } from './session/store.js'
import type { Clock } from './clock.js'
import { lastValueSha256 } from './digest.js'
import type { Config } from './config/types.js'
import { createFetchWithCa, type Fetch } from './oidc/fetch.js'
import { observedFetch } from './oidc/observed-fetch.js'
import { createIssuer, type Issuer } from './oidc/issuer.js'
import { createCachingVerifier } from './oidc/token-cache.js'
import { createTokenReviewer } from './oidc/token-review.js'
import { createTokenVerifier, type TokenVerifierOptions, type VerificationCounts } from './oidc/token-verifier.js'
import type { SourcesDependencies } from './credentials/sources.js'
import { createMetrics, type Metrics } from './ops/metrics.js'

/** How to reach the Kubernetes API as this pod (for service-account token issuers). */
export interface KubernetesCredentials {
  /** The pod's service-account token, read fresh each time (kubelet rotates it). */
  token(): string | undefined
  /** The cluster CA (PEM). */
  readonly ca: string | undefined
  /** The API server's base URL; default `https://kubernetes.default.svc` (tests: a test API server). */
  readonly apiServer?: string
}

const API_SERVER = 'https://kubernetes.default.svc'
/** The issuer of legacy secret-based service-account tokens (KUBERNETES_LEGACY_TOKENS). */
const LEGACY_SERVICE_ACCOUNT_ISSUER = 'kubernetes/serviceaccount'

export interface ServiceDependencies {
  logger: FastifyBaseLogger
  clock: Clock
  fetch: Fetch
  kubernetes?: KubernetesCredentials
  /** Replaces the store SESSION_STORE_TYPE selects (tests). */
  sessionStore?: SessionStore
}

export interface Service {
  readonly checkApp: FastifyInstance
  readonly opsApp: FastifyInstance
  /** The transport-free check (endpoints, decision, reply, log, metrics), for every transport. */
  readonly handle: (request: CheckRequest) => Promise<HandledCheck>
  /**
   * The check pipeline alone: the decision for a request, without answering, logging or counting;
   * with `{ dryRun: true, trace: true }` it changes nothing and says what each credential source found.
   */
  readonly check: (request: CheckRequest, options?: CheckOptions) => Promise<CheckResult>
  /**
   * One check replayed without side effects (`authservice explain`): the dry run's trace and the
   * reply `handle` would give; nothing is logged or counted, endpoints are named, not run.
   */
  readonly replay: (request: CheckRequest) => Promise<ReplayedCheck>
  readonly metrics: Metrics
  readonly sessionStore: SessionStore
  readonly primaryIssuer: Issuer
  isReady(): boolean
  /** Starts discovery for every issuer (retrying in the background); never rejects. */
  startIssuers(): Promise<void>
  close(): Promise<void>
}

export function createService(config: Config, deps: ServiceDependencies): Service {
  // The token cache and readiness are read at scrape time only, after `verifier` and `isReady` below exist.
  // One SHA-256 of a bearer token (or a sealed session cookie) for the cache key and the decision line's fingerprint (digest.ts).
  const digest = lastValueSha256()
  // Shared by every token verifier below (bearer, Kubernetes, login), counted on the hot path as plain numbers.
  const verification: VerificationCounts = { keyLookups: 0, signatureChecks: 0 }
  const metrics = createMetrics({
    tokenCache: { size: () => verifier.stats.size(), hits: () => verifier.stats.hits(), misses: () => verifier.stats.misses() },
    verification,
    ready: () => isReady(),
  })
  // Every call to a provider, the API server included, is counted by endpoint and result here.
  const counted = (fetch: Fetch) => observedFetch(fetch, metrics.observeProviderCall)
  const providerFetch = counted(config.caBundle ? createFetchWithCa(config.caBundle) : deps.fetch)
  const issuerLog = deps.logger.child({ component: 'issuer' })

  /** Calls to the API server carry the pod's own token and trust the cluster CA. */
  const asPod = (kubernetes: KubernetesCredentials) => ({
    fetch: kubernetes.ca ? counted(createFetchWithCa(kubernetes.ca)) : providerFetch,
    headers: (): Record<string, string> => {
      const token = kubernetes.token()
      return token ? { authorization: `Bearer ${token}` } : {}
    },
  })
  /**
   * `cluster`: the API server's own keys (KUBERNETES_TOKENS), read as this pod, with no discovery.
   * Every other issuer is asked without the pod's token (the cluster's issuer is never an extra
   * issuer: config/load.ts refuses it).
   */
  const makeIssuer = (issuerUrl: string, cluster?: { kubernetes: KubernetesCredentials; jwksUri: string }): Issuer => {
    return createIssuer({
      issuer: issuerUrl,
      clock: deps.clock,
      ...(cluster ? asPod(cluster.kubernetes) : { fetch: providerFetch }),
      jwksUri: cluster?.jwksUri,
      onError: (error, retryInMs) =>
        issuerLog.warn({ issuer: issuerUrl, err: error, retryInMs }, 'identity provider not reachable yet; retrying'),
      onReady: () => issuerLog.info({ issuer: issuerUrl }, 'identity provider discovered, keys loaded'),
    })
  }

  const primaryIssuer = makeIssuer(config.issuer)
  const extraIssuers = config.extraIssuers.map((extra) => ({
    issuer: makeIssuer(extra.issuer),
    // A bare issuer takes AUDIENCES, as oidc-authservice's TokenReview did.
    audience: extra.audience === '' ? config.audiences : extra.audience,
  }))
  const verifying = { algorithms: config.jwtAlgorithms, clockSkewSeconds: config.clockSkewSeconds, maxTokenBytes: config.maxTokenBytes, clock: deps.clock, counts: verification }
  const verifier = createCachingVerifier(
    createTokenVerifier({
      issuers: [
        // EXTRA_JWT_ISSUERS entries naming OIDC_PROVIDER add audiences for its bearer tokens only.
        { issuer: primaryIssuer, audience: [config.clientId, ...config.primaryExtraAudiences], primary: true },
        ...extraIssuers.map((extra) => ({ ...extra, primary: false })),
      ],
      ...verifying,
    }),
    { clock: deps.clock, digest },
  )
  // ID tokens straight from the token endpoint (callback, refresh): for CLIENT_ID only, and a key the
  // provider replaced is fetched and waited for, so logins keep working right after it re-keys.
  /**
   * KUBERNETES_TOKENS: the cluster's keys from the API server's `/openid/v1/jwks` (never a discovery
   * document's jwks_uri), its own verifier (no verified-token cache: a deleted service account must
   * be refused within KUBERNETES_TOKENREVIEW_CACHE_SECONDS) and the TokenReview.
   */
  function createKubernetesTokens(): { issuer: Issuer; source: NonNullable<SourcesDependencies['kubernetes']> } | undefined {
    const settings = config.kubernetesTokens
    if (!settings) return undefined
    if (!deps.kubernetes) deps.logger.warn('KUBERNETES_TOKENS: not running in a cluster (no KUBERNETES_SERVICE_HOST); service-account tokens get "unavailable"')
    const kubernetes = deps.kubernetes ?? { token: () => undefined, ca: undefined }
    const apiServer = kubernetes.apiServer ?? API_SERVER
    const issuer = makeIssuer(settings.issuer, { kubernetes, jwksUri: new URL('/openid/v1/jwks', apiServer).toString() })
    const trusted: TokenVerifierOptions['issuers'] = [
      { issuer, audience: settings.audiences, primary: false },
      ...(settings.legacy ? [{ issuer: { ...issuer, issuer: LEGACY_SERVICE_ACCOUNT_ISSUER }, audience: [], primary: false, legacyServiceAccount: true }] : []),
    ]
    const review = settings.tokenReview
      ? createTokenReviewer({ apiServer, ...asPod(kubernetes), clock: deps.clock, cacheSeconds: settings.reviewCacheSeconds })
      : undefined
    return {
      issuer,
      source: {
        verifier: createTokenVerifier({ issuers: trusted, ...verifying }),
        issuers: new Set(trusted.map((entry) => entry.issuer.issuer)),
        audiences: settings.audiences,
        maxLifetimeSeconds: settings.maxLifetimeSeconds,
        review,
        keysLoaded: () => issuer.keys.hasKeys(),
      },
    }
  }
  const idTokenVerifier = createTokenVerifier({
    issuers: [{ issuer: primaryIssuer, audience: config.clientId, primary: true }],
    keyRefetch: 'now',
    ...verifying,
  })
  const kubernetesTokens = createKubernetesTokens()
  // Ready once keys exist: they stay cached through a later outage, so readiness stays too.
  const isReady = () => primaryIssuer.keys.hasKeys()
  const sessionStore = deps.sessionStore ?? createSessionStore(config, { ...metrics.sessionStoreHooks, digest })
  const tokens = createTokenClient({
    metadata: () => primaryIssuer.metadata(),
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    clockSkewSeconds: config.clockSkewSeconds,
    fetch: providerFetch,
  })
  const identityClaims = [config.userIdClaim, config.groupsClaim]
  const sessions = createSessionAuthenticator({
    store: sessionStore,
    tokens,
    verifier: idTokenVerifier,
    clock: deps.clock,
    requireFreshIdToken: config.setAuthorizationHeader,
    identityClaims,
    onRefresh: metrics.observeSessionRefresh,
    onRefreshError: (error) => {
      metrics.observeSessionRefresh('failed')
      deps.logger.warn({ err: error }, 'session refresh failed; keeping the session for now')
    },
  })
  const check = createChecker({
    config,
    digest,
    verifier,
    sessions,
    providerReady: isReady,
    kubernetes: kubernetesTokens?.source,
    onUnexpectedError: (error) => deps.logger.error({ err: error }, 'unexpected error while verifying a credential'),
  })
  const respond = createResponder({
    userIdHeader: config.userIdHeader,
    groupsHeader: config.groupsHeader,
    setAuthorizationHeader: config.setAuthorizationHeader,
    setXAuthRequest: config.setXAuthRequest,
    retryAfterSeconds: 5,
  })
  const login = createLoginHandlers({
    config,
    clock: deps.clock,
    flowRing: deriveKeys({ sessionSecrets: config.sessionSecrets, clientSecret: config.clientSecret }, 'login-flow'),
    store: sessionStore,
    tokens,
    verifier: idTokenVerifier,
    identityRules: config,
    identityClaims,
    endpoints: {
      // OIDC_AUTH_URL (Kubeflow: the relative /dex/auth) wins over the in-cluster discovered URL. A
      // login only starts once the provider is ready (check/decision.ts), so discovery has answered.
      authorization: () => config.authUrl ?? primaryIssuer.metadata()?.authorization_endpoint,
      endSession: () => primaryIssuer.metadata()?.end_session_endpoint,
    },
  })
  const answering = { config, check, respond, endpoints: createEndpointMatcher(config), login, clock: deps.clock }
  const handle = createHandler({ ...answering, metrics, logger: deps.logger })
  const replay = createReplayer(answering)
  const checkApp = buildCheckApp({ logger: deps.logger, handle })
  const opsApp = buildOpsApp({ logger: deps.logger, metrics, isReady })
  // The cluster's key set is started and observed with the others; readiness never waits for it.
  const allIssuers = [primaryIssuer, ...extraIssuers.map((extra) => extra.issuer), ...(kubernetesTokens ? [kubernetesTokens.issuer] : [])]
  // Key fetches are counted; the tokens of a key replaced or withdrawn leave the cache at once.
  for (const { issuer, keys } of allIssuers) {
    keys.observe({
      fetched: (result) => metrics.observeKeyFetch(issuer, result),
      changed: (changes) => {
        for (const { kid, change } of changes) {
          verifier.forgetKey(issuer, kid)
          if (change === 'withdrawn') continue
          metrics.observeKeyReplaced(issuer)
          issuerLog.info({ issuer, kid }, 'signing key replaced under the same kid: tokens of the previous key are refused from now on')
        }
      },
    })
  }

  return {
    checkApp,
    opsApp,
    handle,
    check,
    replay,
    metrics,
    sessionStore,
    primaryIssuer,
    isReady,
    async startIssuers() {
      await Promise.all(allIssuers.map((issuer) => issuer.start()))
    },
    async close() {
      for (const issuer of allIssuers) issuer.close()
      await Promise.all([checkApp.close(), opsApp.close()])
      await sessionStore.close()
    },
  }
}
