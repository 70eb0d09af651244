/**
 * Prometheus metrics on an instance-owned registry (no prom-client global state): decisions by
 * outcome and reason, their latency, the verified-token cache, and each issuer's key set (fetches,
 * and keys replaced under a kid it already knew).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { TokenCacheStats } from '../oidc/token-cache.js'

export interface Metrics {
  readonly registry: Registry
  /** One answered check: its outcome (allow, login, unauthenticated, …) and reason code. */
  observeDecision(decision: { readonly outcome: string; readonly reason: string }, seconds: number): void
}

/** What the issuers' key sets report (service.ts wires them). */
export interface KeySetMetrics {
  /** One fetch of an issuer's key set (JWKS) ended: `ok` or `failed`. */
  observeKeyFetch(issuer: string, result: 'ok' | 'failed'): void
  /** An issuer published new key material under a kid it already used (a rotation under the same kid). */
  observeKeyReplaced(issuer: string): void
}

export function createMetrics(options: { tokenCache?: TokenCacheStats; defaultMetrics?: boolean } = {}): Metrics & KeySetMetrics {
  const registry = new Registry()
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'authservice_' })
  const counter = <Label extends string>(name: string, help: string, labelNames: readonly Label[]) =>
    new Counter({ name, help, labelNames, registers: [registry] })
  const decisions = counter('authservice_decisions_total', 'Check decisions by outcome (allow, skip, unauthenticated, forbidden, unavailable) and reason.', ['outcome', 'reason'])
  const duration = new Histogram({
    name: 'authservice_decision_duration_seconds',
    help: 'Time to decide a check, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 3],
    registers: [registry],
  })
  const keyFetches = counter('authservice_jwks_refreshes_total', "Fetches of an issuer's signing keys (JWKS), by issuer and result (ok, failed).", ['issuer', 'result'])
  const keysReplaced = counter('authservice_jwks_key_changes_total', 'Signing keys an issuer replaced under a kid already in use (its tokens left the cache), by issuer.', ['issuer'])
  const cache = options.tokenCache
  if (cache) {
    new Gauge({
      name: 'authservice_token_cache_entries',
      help: 'Verified tokens held in the cache.',
      registers: [registry],
      collect() {
        this.set(cache.size())
      },
    })
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
  // The label children, looked up once per outcome and reason (a small fixed set): prom-client
  // hashes the label object on every inc/observe otherwise (~0.5 µs per check, npm run bench -- --profile).
  const counters = new Map<string, Map<string, { inc(): void }>>()
  const timers = new Map<string, { observe(seconds: number): void }>()
  return {
    registry,
    observeDecision({ outcome, reason }, seconds) {
      let byReason = counters.get(outcome)
      if (byReason === undefined) counters.set(outcome, (byReason = new Map()))
      let counter = byReason.get(reason)
      if (counter === undefined) byReason.set(reason, (counter = decisions.labels(outcome, reason)))
      counter.inc()
      let timer = timers.get(outcome)
      if (timer === undefined) timers.set(outcome, (timer = duration.labels(outcome)))
      timer.observe(seconds)
    },
    // Rare (a fetch every few minutes at most): the label lookup needs no memo.
    observeKeyFetch(issuer, result) {
      keyFetches.inc({ issuer, result })
    },
    observeKeyReplaced(issuer) {
      keysReplaced.inc({ issuer })
    },
  }
}
