/**
 * Issue 18: every call to the identity provider is counted by endpoint and result, through the
 * Fetch seam, as the scrape shows it. A real loopback HTTP server plays the provider.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { observedFetch, providerEndpoint } from '../../../src/oidc/observed-fetch.js'
import { createMetrics } from '../../../src/ops/metrics.js'
import { freePort } from '../../helpers/ports.js'

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const post = (body: string) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })

t.test('discovery, keys, token, revocation and TokenReview are told apart by what the service sends', async (t) => {
  const base = 'http://127.0.0.1:5556/dex'
  t.equal(providerEndpoint(`${base}/.well-known/openid-configuration`), 'discovery')
  t.equal(providerEndpoint(`${base}/keys`, { method: 'GET' }), 'jwks')
  t.equal(providerEndpoint('https://kubernetes.default.svc/openid/v1/jwks'), 'jwks')
  t.equal(providerEndpoint(`${base}/token`, post(form({ grant_type: 'authorization_code', code: 'c' }))), 'token')
  t.equal(providerEndpoint(`${base}/token`, post(form({ grant_type: 'refresh_token', refresh_token: 'r' }))), 'token')
  t.equal(providerEndpoint(`${base}/token/revoke`, post(form({ token: 'r', token_type_hint: 'refresh_token' }))), 'revocation')
  t.equal(providerEndpoint('https://kubernetes.default.svc/apis/authentication.k8s.io/v1/tokenreviews', { method: 'POST', body: '{}' }), 'tokenreview')
})

t.test('the scrape counts answers below 500 as ok, 5xx as error, no answer as unreachable', async (t) => {
  const server = createServer((request, response) => {
    response.statusCode = request.url?.endsWith('/keys') ? 503 : request.url?.endsWith('/token') ? 400 : 200
    response.end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dex`
  const metrics = createMetrics({ defaultMetrics: false })
  const counted = observedFetch((url, init) => fetch(url, init), metrics.observeProviderCall)

  t.equal((await counted(`${base}/.well-known/openid-configuration`)).status, 200, 'the answer is passed through')
  t.equal((await counted(`${base}/keys`)).status, 503)
  t.equal((await counted(`${base}/token`, post(form({ grant_type: 'refresh_token', refresh_token: 'r' })))).status, 400)
  const closed = await freePort()
  await t.rejects(counted(`http://127.0.0.1:${closed}/dex/keys`), 'no answer still rejects')

  const scrape = await metrics.registry.metrics()
  const lines = scrape.split('\n').filter((line) => line.startsWith('authservice_provider_requests_total'))
  t.same(lines.sort(), [
    'authservice_provider_requests_total{endpoint="discovery",result="ok"} 1',
    'authservice_provider_requests_total{endpoint="jwks",result="error"} 1',
    'authservice_provider_requests_total{endpoint="jwks",result="unreachable"} 1',
    'authservice_provider_requests_total{endpoint="token",result="ok"} 1',
  ])
})
