/**
 * The operations endpoints (READINESS_PROBE_PORT) through buildOpsApp and app.inject(): liveness
 * never depends on the identity provider, readiness (`/readyz`, and `/` for Kubeflow's existing
 * probe) follows it, `/metrics` is the service's own registry in Prometheus' text format.
 */
import t, { type Test } from 'tap'
import { buildOpsApp } from '../../../src/app.js'
import { createLogger } from '../../../src/log/logger.js'
import { createMetrics } from '../../../src/ops/metrics.js'

function opsApp(t: Test, isReady: () => boolean) {
  const metrics = createMetrics({ defaultMetrics: false })
  const app = buildOpsApp({ logger: createLogger('silent'), metrics, isReady })
  t.teardown(() => app.close())
  return { app, metrics }
}

t.test('/healthz answers 200 whether or not the provider is ready', async (t) => {
  let ready = false
  const { app } = opsApp(t, () => ready)
  for (const state of [false, true]) {
    ready = state
    const response = await app.inject({ method: 'GET', url: '/healthz' })
    t.equal(response.statusCode, 200, `ready: ${state}`)
    t.same(response.json(), { status: 'ok' })
  }
})

t.test('/readyz and / answer 503 until the provider\'s keys are loaded, then 200; asked on every probe', async (t) => {
  let ready = false
  const { app } = opsApp(t, () => ready)
  for (const url of ['/readyz', '/']) {
    ready = false
    const waiting = await app.inject({ method: 'GET', url })
    t.equal(waiting.statusCode, 503, `${url} before`)
    t.same(waiting.json(), { status: 'not ready', reason: 'identity provider discovery or keys not loaded yet' })
    ready = true
    const serving = await app.inject({ method: 'GET', url })
    t.equal(serving.statusCode, 200, `${url} after`)
    t.same(serving.json(), { status: 'ready' })
  }
})

t.test('/metrics is the registry in Prometheus\' text format, decisions included', async (t) => {
  const { app, metrics } = opsApp(t, () => true)
  metrics.observeDecision({ outcome: 'allow', reason: 'CREDENTIAL_VALID' }, 0.001)
  const response = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], metrics.registry.contentType)
  t.match(response.body, /^authservice_decisions_total\{outcome="allow",reason="CREDENTIAL_VALID"\} 1$/m)
})

t.test('only GET (and HEAD) on the four paths: the ops port answers nothing else', async (t) => {
  const { app } = opsApp(t, () => true)
  t.equal((await app.inject({ method: 'HEAD', url: '/readyz' })).statusCode, 200)
  for (const [method, url] of [['POST', '/readyz'], ['GET', '/api/x'], ['DELETE', '/healthz']] as const) {
    t.equal((await app.inject({ method, url })).statusCode, 404, `${method} ${url}`)
  }
})
