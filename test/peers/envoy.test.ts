// Smoke test: the real Envoy gateway consults an ext_authz endpoint the test provides, on every
// route, and applies its answers the way Istio's ingressgateway would.
import t from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { gatewayBootstrap, startEnvoy, validateBootstrap } from '../helpers/envoy.js'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'

t.test('Envoy applies an ext_authz allow and a browser deny', { skip: skipUnlessPeers('envoy') }, async (t) => {
  t.comment(`envoy ${peerVersion('envoy')}`)
  const checks: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders }> = []
  const authz = createServer((request, response) => {
    checks.push({ method: request.method, url: request.url, headers: request.headers })
    if (request.url?.startsWith('/allowed')) {
      response.writeHead(200, { 'kubeflow-userid': 'from-authz@example.com', 'x-not-allowed': 'dropped' })
      response.end()
      return
    }
    response.writeHead(302, [
      ['location', '/dex/auth?state=abc'],
      ['set-cookie', 'flow_a=1; Path=/; HttpOnly'],
      ['set-cookie', 'flow_b=2; Path=/; HttpOnly'],
      ['cache-control', 'no-store'],
    ])
    response.end()
  })
  await new Promise<void>((resolve) => authz.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => authz.close(() => resolve())))
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const envoy = await startEnvoy({
    authz: { mode: 'http', port: (authz.address() as AddressInfo).port },
    upstreamPort: upstream.port,
  })
  t.teardown(() => envoy.stop())

  const allowed = await fetch(`${envoy.url}/allowed/page?x=1`, {
    headers: { 'kubeflow-userid': 'attacker', accept: 'text/plain' },
  })
  t.equal(allowed.status, 200)
  const echoed = (await allowed.json()) as EchoedRequest
  t.same(
    echoed.headerLines.filter(([name]) => name === 'kubeflow-userid'),
    [['kubeflow-userid', 'from-authz@example.com']],
    'the upstream sees exactly the authz value, not the client one',
  )
  t.equal(echoed.headers['x-not-allowed'], undefined, 'headers not allow-listed stay out')
  t.equal(checks[0]?.url, '/allowed/page?x=1', 'the check sees the original path and query, no prefix')
  t.equal(checks[0]?.headers.accept, 'text/plain', 'accept is forwarded to the check')

  const denied = await fetch(`${envoy.url}/notebooks`, { redirect: 'manual' })
  t.equal(denied.status, 302)
  t.equal(denied.headers.get('location'), '/dex/auth?state=abc', 'Location survives the deny')
  t.same(denied.headers.getSetCookie(), ['flow_a=1; Path=/; HttpOnly', 'flow_b=2; Path=/; HttpOnly'], 'both cookies reach the client')
  t.equal(upstream.received.length, 1, 'the denied request never reached the upstream')
  const stats = await envoy.extAuthzStats()
  t.equal(stats.ok, 1)
  t.equal(stats.denied, 1)
})

t.test('the gRPC ext_authz gateway bootstrap is valid Envoy config', { skip: skipUnlessPeers('envoy') }, async (t) => {
  await validateBootstrap(
    gatewayBootstrap({ authz: { mode: 'grpc', port: 10003 }, upstreamPort: 10001, dexPort: 10004, listenPort: 10000, adminPort: 9901 }),
  )
  await t.rejects(
    validateBootstrap({ static_resources: { clusters: [{ name: 'broken', type: 'NOT_A_TYPE' }] } }),
    /validate failed/,
    'a wrong bootstrap is refused, so the validation can fail',
  )
})
