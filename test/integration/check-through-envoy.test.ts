// The ext_authz HTTP check through real Envoy (the gateway as the shipped EnvoyFilter wires it)
// with tokens minted by real Dex: what the upstream sees, what the client gets.
import t, { type Test } from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { kubeflowEnv, startAuthservice } from '../helpers/authservice.js'
import { startDex, type Dex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy, type Envoy } from '../helpers/envoy.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { NAVIGATION_HEADERS, rawRequest } from '../helpers/raw-request.js'

const skip = skipUnlessPeers('dex', 'envoy')

async function gateway(t: Test, dex: Dex, upstream: EchoUpstream, env: Record<string, string>): Promise<Envoy> {
  const authservice = await startAuthservice({ ...kubeflowEnv(dex), ...env })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ authz: { mode: 'http', port: authservice.checkPort }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())
  return envoy
}

const linesOf = (echoed: EchoedRequest, name: string) => echoed.headerLines.filter(([header]) => header === name).map(([, value]) => value)

t.test('the check through real Envoy and Dex', { skip }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const envoy = await gateway(t, dex, upstream, { SET_AUTHORIZATION_HEADER: 'true' })
  const jwks = createRemoteJWKSet(new URL(`${dex.issuer}/keys`))

  await t.test('a Dex bearer token is allowed and the upstream sees our identity headers only', async (t) => {
    const { id_token: token } = await dex.passwordGrant('alice@example.com')
    const response = await fetch(`${envoy.url}/notebook/alice/lab?tab=1`, {
      headers: { authorization: `Bearer ${token}`, 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins', accept: 'application/json' },
    })
    t.equal(response.status, 200)
    const echoed = (await response.json()) as EchoedRequest
    t.equal(echoed.path, '/notebook/alice/lab?tab=1', 'the request reaches the upstream unchanged')
    t.same(linesOf(echoed, 'kubeflow-userid'), ['alice@example.com'], 'exactly one kubeflow-userid, ours')
    t.same(linesOf(echoed, 'kubeflow-groups'), ['kubeflow-admins,team-a'], 'groups replace the client value')
    const [authorization] = linesOf(echoed, 'authorization')
    t.match(authorization, /^Bearer /, 'the upstream gets authorization: Bearer (Kubeflow >= 1.9)')
    const forwarded = await jwtVerify(authorization!.slice(7), jwks, { issuer: dex.issuer, audience: dex.clientId })
    t.equal(forwarded.payload.email, 'alice@example.com', 'the forwarded token is the Dex ID token and verifies')
  })

  await t.test('a user without groups: a client-sent kubeflow-groups never reaches the upstream', async (t) => {
    const { id_token: token } = await dex.passwordGrant('user@example.com')
    const response = await fetch(`${envoy.url}/pipeline/`, {
      headers: { authorization: `bearer ${token}`, 'kubeflow-groups': 'kubeflow-admins' },
    })
    t.equal(response.status, 200, 'mixed-case bearer scheme is accepted')
    const echoed = (await response.json()) as EchoedRequest
    t.same(linesOf(echoed, 'kubeflow-userid'), ['user@example.com'])
    t.same(linesOf(echoed, 'kubeflow-groups'), [], 'removed, not passed through')
  })

  await t.test('skip paths pass without identity, and spoofed identity headers are stripped', async (t) => {
    const response = await fetch(`${envoy.url}/authservice/site/help`, {
      headers: { 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins' },
    })
    t.equal(response.status, 200)
    const echoed = (await response.json()) as EchoedRequest
    t.same(linesOf(echoed, 'kubeflow-userid'), [], 'no kubeflow-userid upstream')
    t.same(linesOf(echoed, 'kubeflow-groups'), [], 'no kubeflow-groups upstream')

    const discovery = await fetch(`${envoy.url}/dex/.well-known/openid-configuration`)
    t.equal(discovery.status, 200, '/dex is routed to Dex through the gateway without a session')
    t.equal(((await discovery.json()) as { issuer: string }).issuer, dex.issuer)
  })

  await t.test('an API call without a credential gets 401 JSON with a Bearer challenge', async (t) => {
    const before = upstream.received.length
    const response = await fetch(`${envoy.url}/api/workgroup/env-info`, { headers: { accept: 'application/json' } })
    t.equal(response.status, 401)
    t.match(response.headers.get('www-authenticate'), /^Bearer /)
    t.match(response.headers.get('content-type'), /^application\/json/)
    t.equal(response.headers.get('cache-control'), 'no-store')
    t.match(await response.json(), { error: 'unauthenticated' })
    t.equal(upstream.received.length, before, 'the upstream never saw it')
  })

  await t.test('a navigation without a session is sent to Dex; OPTIONS gets no free pass', async (t) => {
    const page = await rawRequest(`${envoy.url}/`, { headers: NAVIGATION_HEADERS })
    t.equal(page.status, 302)
    t.match(page.header('location'), /^\/dex\/auth\?/, 'to the relative OIDC_AUTH_URL through the gateway')
    t.equal(page.setCookies().filter((cookie) => cookie.startsWith('authservice_flow_')).length, 1, 'with its flow cookie')
    const curl = await rawRequest(`${envoy.url}/`, { headers: { accept: '*/*' } })
    t.equal(curl.status, 302, 'curl and python-requests (accept: */*) count as navigations')
    const options = await fetch(`${envoy.url}/api/v1/pipelines`, { method: 'OPTIONS' })
    t.equal(options.status, 401, 'OPTIONS is checked like any other method')
  })

  await t.test('path tricks are checked on the path Envoy routes', async (t) => {
    for (const path of ['/dex/../api/x', '/dex/%2e%2e/api/x', '/authservice/../notebooks']) {
      const response = await fetch(`${envoy.url}${path}`, { headers: { accept: 'application/json' } })
      t.equal(response.status, 401, `${path} is not a skip path`)
    }
  })

  await t.test('an invalid token is refused with 401 and invalid_token', async (t) => {
    const { id_token: token } = await dex.passwordGrant('alice@example.com')
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const response = await fetch(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${tampered}` } })
    t.equal(response.status, 401)
    t.match(response.headers.get('www-authenticate'), /error="invalid_token"/)
  })
})

t.test('GROUPS_ALLOWLIST and ALLOWED_EMAIL_DOMAINS answer 403', { skip }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const envoy = await gateway(t, dex, upstream, { GROUPS_ALLOWLIST: 'kubeflow-admins,team-b', ALLOWED_EMAIL_DOMAINS: 'example.com' })

  const alice = await dex.passwordGrant('alice@example.com')
  t.equal((await fetch(`${envoy.url}/x`, { headers: { authorization: `Bearer ${alice.id_token}` } })).status, 200, 'an allowed group and domain pass')

  const user = await dex.passwordGrant('user@example.com')
  const noGroup = await rawRequest(`${envoy.url}/x`, { headers: { authorization: `Bearer ${user.id_token}`, ...NAVIGATION_HEADERS } })
  t.equal(noGroup.status, 403)
  t.match(noGroup.body, /Access denied[\s\S]*user@example\.com/, 'the page says who is signed in')

  const bob = await dex.passwordGrant('bob@example.org')
  const wrongDomain = await fetch(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${bob.id_token}` } })
  t.equal(wrongDomain.status, 403)
  t.match(await wrongDomain.json(), { error: 'forbidden', user: 'bob@example.org' })
})
