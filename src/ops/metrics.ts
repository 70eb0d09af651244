/**
 * Prometheus metrics on an instance-owned registry (no prom-client global state): decisions by
 * outcome and reason, their latency, checks in flight, the verified-token cache, each issuer's key
 * set (fetches, and keys replaced under a kid it already knew), calls to the identity provider by
 * endpoint and result, session-store errors and session renewals. Node's default metrics keep
 * their stock names (`process_*`, `nodejs_*`) so the usual Node.js dashboards read them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ProviderCallObserver, ProviderCallResult, ProviderEndpoint } from '../oidc/observed-fetch.js'
import type { TokenCacheStats } from '../oidc/token-cache.js'
import type { VerificationCounts } from '../oidc/token-verifier.js'

export interface Metrics {
  readonly registry: Registry
  /** A check started (counted in flight until observeDecision or checkAbandoned). */
  checkStarted(): void
  /** A check ended without a decision (it threw): no longer in flight. */
  checkAbandoned(): void
  /** One answered check: its outcome (allow, login, unauthenticated, …) and reason code; no longer in flight. */
  observeDecision(decision: { readonly outcome: string; readonly reason: string }, seconds: number): void
}

/** What the issuers' key sets report (service.ts wires them). */
export interface KeySetMetrics {
  /** One fetch of an issuer's key set (JWKS) ended: `ok` or `failed`. */
  observeKeyFetch(issuer: string, result: 'ok' | 'failed'): void
  /** An issuer published new key material under a kid it already used (a rotation under the same kid). */
  observeKeyReplaced(issuer: string): void
}

/** Calls to the identity provider and the session store's health (service.ts wires them). */
export interface DependencyMetrics {
  /** One call to the identity provider ended (oidc/observed-fetch.ts). */
  readonly observeProviderCall: ProviderCallObserver
  /** The session store's Redis failed: a `connection` attempt, or a `command` a check needed. */
  observeSessionStoreError(kind: 'connection' | 'command'): void
  /** The same, as the hooks session/create-store.ts takes. */
  readonly sessionStoreHooks: { readonly onRedisError: () => void; readonly onRedisCommandError: () => void }
  /**
   * A session's refresh at the provider: `ok` (renewed), `rejected` (refused, the session ended),
   * `failed` (no usable answer; the session is kept for now).
   */
  observeSessionRefresh(result: 'ok' | 'rejected' | 'failed'): void
}

export interface MetricsOptions {
  readonly tokenCache?: TokenCacheStats
  /** The token verifiers' key lookups and signature checks (read at scrape time). */
  readonly verification?: Readonly<VerificationCounts>
  /** What /readyz answers (1 ready, 0 not), read at scrape time. */
  readonly ready?: () => boolean
  readonly defaultMetrics?: boolean
}

export function createMetrics(options: MetricsOptions = {}): Metrics & KeySetMetrics & DependencyMetrics {
  const registry = new Registry()
  // No prefix: stock Node.js dashboards query process_cpu_seconds_total, nodejs_heap_size_used_bytes, ….
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  const counter = <Label extends string>(name: string, help: string, labelNames: readonly Label[]) =>
    new Counter({ name, help, labelNames, registers: [registry] })
  /** A gauge read when Prometheus scrapes: nothing on the hot path. */
  const scrapedGauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()) } })
  const decisions = counter('authservice_decisions_total', 'Check decisions by outcome (allow, skip, unauthenticated, forbidden, unavailable) and reason.', ['outcome', 'reason'])
  const duration = new Histogram({
    name: 'authservice_decision_duration_seconds',
    help: 'Time to decide a check, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 3],
    registers: [registry],
  })
  // A plain number on the hot path, read at scrape time.
  let inFlight = 0
  scrapedGauge('authservice_checks_in_flight', 'Checks being decided right now.', () => inFlight)
  const ready = options.ready
  if (ready) {
    scrapedGauge('authservice_ready', 'Whether the service is ready (1: keys of the identity provider loaded, as /readyz says; 0: not).', () => ready() ? 1 : 0)
  }
  const keyFetches = counter('authservice_jwks_refreshes_total', "Fetches of an issuer's signing keys (JWKS), by issuer and result (ok, failed).", ['issuer', 'result'])
  const keysReplaced = counter('authservice_jwks_key_changes_total', 'Signing keys an issuer replaced under a kid already in use (its tokens left the cache), by issuer.', ['issuer'])
  const providerCalls = counter(
    'authservice_provider_requests_total',
    'Calls to the identity provider by endpoint (discovery, jwks, token, revocation, tokenreview) and result (ok, error: a 5xx answer, unreachable: no answer).',
    ['endpoint', 'result'],
  )
  const storeErrors = counter('authservice_session_store_errors_total', "Session store (Redis) failures by kind: connection (a failed connect or reconnect), command (a check's read or write failed).", ['kind'])
  const refreshes = counter('authservice_session_refreshes_total', "Sessions renewed at the identity provider with their refresh token, by result (ok, rejected: the session ended, failed: kept for now).", ['result'])
  const cache = options.tokenCache
  if (cache) {
    scrapedGauge('authservice_token_cache_entries', 'Verified tokens held in the cache.', () => cache.size())
    new Counter({
      name: 'authservice_token_cache_lookups_total',
      help: 'Verified-token cache lookups by result (hit, miss).',
      labelNames: ['result'] as const,
      registers: [registry],
      collect() {
        this.reset()
        this.inc({ result: 'hit' }, cache.hits())
        this.inc({ result: 'miss' }, cache.misses())
      },
    })
  }
  const verification = options.verification
  if (verification) {
    /** A counter whose value is a number the hot path keeps (a plain increment there, no prom-client). */
    const scrapedCounter = (name: string, help: string, read: () => number) =>
      new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()) } })
    // Junk must never reach these (issue #17; test/bench/bench-smoke.test.ts holds it to that).
    scrapedCounter('authservice_token_key_lookups_total', 'Signing keys found for the kid of a bearer or ID token (a refetch for an unknown kid counts in authservice_jwks_refreshes_total).', () => verification.keyLookups)
    scrapedCounter('authservice_token_signature_checks_total', 'Token signatures checked (RSA, ECDSA or EdDSA), valid or not.', () => verification.signatureChecks)
  }
  // The label children, looked up once per label set (each a small fixed set): prom-client hashes
  // the label object on every inc/observe otherwise (~0.5 µs per check, npm run bench -- --profile).
  const counters = new Map<string, Map<string, { inc(): void }>>()
  const timers = new Map<string, { observe(seconds: number): void }>()
  const storeError = (kind: 'connection' | 'command') => storeErrors.inc({ kind })
  const calls = new Map<ProviderEndpoint, Map<ProviderCallResult, { inc(): void }>>()
  return {
    registry,
    checkStarted() {
      inFlight += 1
    },
    checkAbandoned() {
      inFlight -= 1
    },
    observeDecision({ outcome, reason }, seconds) {
      inFlight -= 1
      let byReason = counters.get(outcome)
      if (byReason === undefined) counters.set(outcome, (byReason = new Map()))
      let counter = byReason.get(reason)
      if (counter === undefined) byReason.set(reason, (counter = decisions.labels(outcome, reason)))
      counter.inc()
      let timer = timers.get(outcome)
      if (timer === undefined) timers.set(outcome, (timer = duration.labels(outcome)))
      timer.observe(seconds)
    },
    observeProviderCall(endpoint, result) {
      let byResult = calls.get(endpoint)
      if (byResult === undefined) calls.set(endpoint, (byResult = new Map()))
      let child = byResult.get(result)
      if (child === undefined) byResult.set(result, (child = providerCalls.labels(endpoint, result)))
      child.inc()
    },
    // Rare (a fetch every few minutes at most, an outage, a renewal per session and hour): the label
    // lookup needs no memo.
    observeKeyFetch(issuer, result) {
      keyFetches.inc({ issuer, result })
    },
    observeKeyReplaced(issuer) {
      keysReplaced.inc({ issuer })
    },
    observeSessionStoreError: storeError,
    sessionStoreHooks: {
      onRedisError: () => storeError('connection'),
      onRedisCommandError: () => storeError('command'),
    },
    observeSessionRefresh: (result) => refreshes.inc({ result }),
  }
}
