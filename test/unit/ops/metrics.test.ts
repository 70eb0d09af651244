/** Prometheus metrics an operator scrapes: decisions by outcome and reason, latency, and the token cache. */
import t from 'tap'
import type { Decision } from '../../../src/check/decision.js'
import type { Identity } from '../../../src/identity/identity.js'
import { createMetrics } from '../../../src/ops/metrics.js'

const alice: Identity = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token' }

const ALLOW: Decision = { outcome: 'allow', kind: 'navigation', reason: 'CREDENTIAL_VALID', identity: alice, via: 'authorization' }
const SKIP: Decision = { outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' }
const FORBIDDEN: Decision = { outcome: 'forbidden', kind: 'api', reason: 'GROUP_NOT_ALLOWED', identity: alice }
const NO_CREDENTIAL: Decision = { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] }
const REJECTED: Decision = { outcome: 'unauthenticated', kind: 'api', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] }
const UNAVAILABLE: Decision = { outcome: 'unavailable', kind: 'navigation', reason: 'PROVIDER_UNAVAILABLE' }

/** The sample lines of one metric family, keyed by name and labels, e.g. `x_total{a="b"}` → 3. */
function samples(text: string, family: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(family)) continue
    const space = line.lastIndexOf(' ')
    found.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return found
}

t.test('decisions are counted by outcome and reason', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  for (const decision of [ALLOW, ALLOW, ALLOW, SKIP, FORBIDDEN, NO_CREDENTIAL, REJECTED, REJECTED, UNAVAILABLE]) {
    metrics.observeDecision(decision, 0.0002)
  }
  const text = await metrics.registry.metrics()
  t.match(text, '# TYPE authservice_decisions_total counter')
  t.same(
    Object.fromEntries(samples(text, 'authservice_decisions_total')),
    {
      'authservice_decisions_total{outcome="allow",reason="CREDENTIAL_VALID"}': 3,
      'authservice_decisions_total{outcome="skip",reason="SKIP_PATH"}': 1,
      'authservice_decisions_total{outcome="forbidden",reason="GROUP_NOT_ALLOWED"}': 1,
      'authservice_decisions_total{outcome="unauthenticated",reason="NO_CREDENTIAL"}': 1,
      'authservice_decisions_total{outcome="unauthenticated",reason="CREDENTIAL_REJECTED"}': 2,
      'authservice_decisions_total{outcome="unavailable",reason="PROVIDER_UNAVAILABLE"}': 1,
    },
  )
  t.notMatch(text, 'alice@example.com', 'no user appears in a label')
})

t.test('decision latency is a histogram by outcome', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  metrics.observeDecision(ALLOW, 0.0003)
  metrics.observeDecision(ALLOW, 0.002)
  metrics.observeDecision(UNAVAILABLE, 2)
  const text = await metrics.registry.metrics()
  t.match(text, '# TYPE authservice_decision_duration_seconds histogram')
  const found = samples(text, 'authservice_decision_duration_seconds')
  const cases: [sample: string, value: number][] = [
    ['authservice_decision_duration_seconds_bucket{le="0.00025",outcome="allow"}', 0],
    ['authservice_decision_duration_seconds_bucket{le="0.0005",outcome="allow"}', 1],
    ['authservice_decision_duration_seconds_bucket{le="0.0025",outcome="allow"}', 2],
    ['authservice_decision_duration_seconds_bucket{le="+Inf",outcome="allow"}', 2],
    ['authservice_decision_duration_seconds_count{outcome="allow"}', 2],
    ['authservice_decision_duration_seconds_bucket{le="1",outcome="unavailable"}', 0],
    ['authservice_decision_duration_seconds_bucket{le="3",outcome="unavailable"}', 1],
    ['authservice_decision_duration_seconds_sum{outcome="unavailable"}', 2],
    ['authservice_decision_duration_seconds_count{outcome="unavailable"}', 1],
  ]
  for (const [sample, value] of cases) t.equal(found.get(sample), value, sample)
  t.ok(Math.abs(found.get('authservice_decision_duration_seconds_sum{outcome="allow"}')! - 0.0023) < 1e-9, 'sum of allow latencies')
})

t.test('the verified-token cache is reported at scrape time', async (t) => {
  const stats = { size: 3, hits: 5, misses: 2 }
  const metrics = createMetrics({
    defaultMetrics: false,
    tokenCache: { size: () => stats.size, hits: () => stats.hits, misses: () => stats.misses },
  })
  const first = await metrics.registry.metrics()
  t.match(first, '# TYPE authservice_token_cache_entries gauge')
  t.match(first, '# TYPE authservice_token_cache_lookups_total counter')
  t.equal(samples(first, 'authservice_token_cache_entries').get('authservice_token_cache_entries'), 3)
  t.equal(samples(first, 'authservice_token_cache_lookups_total').get('authservice_token_cache_lookups_total{result="hit"}'), 5)
  t.equal(samples(first, 'authservice_token_cache_lookups_total').get('authservice_token_cache_lookups_total{result="miss"}'), 2)

  Object.assign(stats, { size: 1, hits: 9, misses: 4 })
  const second = await metrics.registry.metrics()
  t.equal(samples(second, 'authservice_token_cache_entries').get('authservice_token_cache_entries'), 1, 'the gauge follows the cache')
  t.equal(
    samples(second, 'authservice_token_cache_lookups_total').get('authservice_token_cache_lookups_total{result="hit"}'),
    9,
    'lookups show the cache totals, not totals added up across scrapes',
  )
  t.equal(samples(second, 'authservice_token_cache_lookups_total').get('authservice_token_cache_lookups_total{result="miss"}'), 4)
})

t.test("the verifiers' key lookups and signature checks are counters read at scrape time", async (t) => {
  const verification = { keyLookups: 4, signatureChecks: 3 }
  const metrics = createMetrics({ defaultMetrics: false, verification })
  const first = await metrics.registry.metrics()
  t.match(first, '# TYPE authservice_token_key_lookups_total counter')
  t.match(first, '# TYPE authservice_token_signature_checks_total counter')
  t.equal(samples(first, 'authservice_token_key_lookups_total').get('authservice_token_key_lookups_total'), 4)
  t.equal(samples(first, 'authservice_token_signature_checks_total').get('authservice_token_signature_checks_total'), 3)
  Object.assign(verification, { keyLookups: 10, signatureChecks: 9 })
  const second = await metrics.registry.metrics()
  t.equal(samples(second, 'authservice_token_key_lookups_total').get('authservice_token_key_lookups_total'), 10, 'the totals, not added up across scrapes')
  t.equal(samples(second, 'authservice_token_signature_checks_total').get('authservice_token_signature_checks_total'), 9)
})

t.test('without a token cache there are no cache metrics', async (t) => {
  const text = await createMetrics({ defaultMetrics: false }).registry.metrics()
  t.notMatch(text, 'authservice_token_cache')
  t.match(text, 'authservice_decisions_total', 'the decision metrics are still there')
})

// Issue 18: stock Node.js dashboards query process_* and nodejs_* by their usual names.
t.test("Node's default metrics are on by default under their stock names, and can be turned off", async (t) => {
  const withDefaults = await createMetrics().registry.metrics()
  t.match(withDefaults, /^process_cpu_user_seconds_total \d/m)
  t.match(withDefaults, /^process_resident_memory_bytes \d/m)
  t.match(withDefaults, /^nodejs_heap_size_total_bytes \d/m)
  t.match(withDefaults, /^nodejs_eventloop_lag_p99_seconds \d/m)
  t.notMatch(withDefaults, /^authservice_(process|nodejs)_/m, 'no prefix on the default metrics')
  const without = await createMetrics({ defaultMetrics: false }).registry.metrics()
  t.notMatch(without, /^(process|nodejs)_/m)
})

t.test('each instance has its own registry', async (t) => {
  const a = createMetrics({ defaultMetrics: false })
  const b = createMetrics({ defaultMetrics: false })
  a.observeDecision(ALLOW, 0.001)
  t.equal(samples(await a.registry.metrics(), 'authservice_decisions_total').size, 1)
  t.equal(samples(await b.registry.metrics(), 'authservice_decisions_total').size, 0, 'the other instance counted nothing')
})

// Issue 15, finding 1: key-set fetches and keys replaced under a known kid are visible to the operator.
t.test('key-set fetches by issuer and result, and keys replaced under a known kid, by issuer', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const dex = 'http://dex.auth.svc.cluster.local:5556/dex'
  metrics.observeKeyFetch(dex, 'ok')
  metrics.observeKeyFetch(dex, 'ok')
  metrics.observeKeyFetch(dex, 'failed')
  metrics.observeKeyFetch('https://kubernetes.default.svc', 'ok')
  metrics.observeKeyReplaced(dex)
  const text = await metrics.registry.metrics()
  t.same(Object.fromEntries(samples(text, 'authservice_jwks_refreshes_total')), {
    [`authservice_jwks_refreshes_total{issuer="${dex}",result="ok"}`]: 2,
    [`authservice_jwks_refreshes_total{issuer="${dex}",result="failed"}`]: 1,
    'authservice_jwks_refreshes_total{issuer="https://kubernetes.default.svc",result="ok"}': 1,
  })
  t.same(Object.fromEntries(samples(text, 'authservice_jwks_key_changes_total')), { [`authservice_jwks_key_changes_total{issuer="${dex}"}`]: 1 })
})

// Issue 18: what an operator needs beside the decisions.
t.test('checks in flight rise when a check starts and fall when it is decided or abandoned', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  const inFlight = async () => samples(await metrics.registry.metrics(), 'authservice_checks_in_flight').get('authservice_checks_in_flight')
  t.equal(await inFlight(), 0, 'exported before the first check')
  metrics.checkStarted()
  metrics.checkStarted()
  metrics.checkStarted()
  t.equal(await inFlight(), 3)
  metrics.observeDecision(ALLOW, 0.001)
  metrics.checkAbandoned()
  t.equal(await inFlight(), 1, 'one decided, one abandoned')
})

t.test('identity-provider calls are counted by endpoint and result', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  metrics.observeProviderCall('discovery', 'ok')
  metrics.observeProviderCall('jwks', 'ok')
  metrics.observeProviderCall('jwks', 'ok')
  metrics.observeProviderCall('jwks', 'unreachable')
  metrics.observeProviderCall('token', 'error')
  metrics.observeProviderCall('revocation', 'ok')
  metrics.observeProviderCall('tokenreview', 'ok')
  t.same(Object.fromEntries(samples(await metrics.registry.metrics(), 'authservice_provider_requests_total')), {
    'authservice_provider_requests_total{endpoint="discovery",result="ok"}': 1,
    'authservice_provider_requests_total{endpoint="jwks",result="ok"}': 2,
    'authservice_provider_requests_total{endpoint="jwks",result="unreachable"}': 1,
    'authservice_provider_requests_total{endpoint="token",result="error"}': 1,
    'authservice_provider_requests_total{endpoint="revocation",result="ok"}': 1,
    'authservice_provider_requests_total{endpoint="tokenreview",result="ok"}': 1,
  })
})

t.test('session-store errors by kind and session refreshes by result', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false })
  metrics.observeSessionStoreError('connection')
  metrics.sessionStoreHooks.onRedisError()
  metrics.sessionStoreHooks.onRedisCommandError()
  metrics.observeSessionRefresh('ok')
  metrics.observeSessionRefresh('ok')
  metrics.observeSessionRefresh('rejected')
  metrics.observeSessionRefresh('failed')
  const text = await metrics.registry.metrics()
  t.same(Object.fromEntries(samples(text, 'authservice_session_store_errors_total')), {
    'authservice_session_store_errors_total{kind="connection"}': 2,
    'authservice_session_store_errors_total{kind="command"}': 1,
  })
  t.same(Object.fromEntries(samples(text, 'authservice_session_refreshes_total')), {
    'authservice_session_refreshes_total{result="ok"}': 2,
    'authservice_session_refreshes_total{result="rejected"}': 1,
    'authservice_session_refreshes_total{result="failed"}': 1,
  })
})

t.test('readiness is exported as 1 or 0, read at scrape time', async (t) => {
  let ready = false
  const metrics = createMetrics({ defaultMetrics: false, ready: () => ready })
  const value = async () => samples(await metrics.registry.metrics(), 'authservice_ready').get('authservice_ready')
  t.equal(await value(), 0)
  ready = true
  t.equal(await value(), 1)
})
