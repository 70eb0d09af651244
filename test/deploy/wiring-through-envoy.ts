/**
 * The allow / deny / skip / login / logout scenarios that a gateway wiring of authservice must pass,
 * through real Envoy against the real service and real Dex. The caller gives the rendered objects
 * (kustomize's or the Helm chart's) and the ext_authz filter the gateway gets from them; the
 * service runs with the rendered ConfigMap, only what points at a cluster swapped for the test's
 * (the issuer is the test Dex, the secrets are the test's). Used by
 * envoyfilter-through-envoy.test.ts (deploy/) and helm-chart.test.ts (charts/authservice).
 */
import type { Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { parse as parseYaml } from 'yaml'
import { startAuthservice } from '../helpers/authservice.js'
import { startDex, type Dex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy, type Envoy } from '../helpers/envoy.js'
import { freePort } from '../helpers/ports.js'
import { NAVIGATION_HEADERS, rawRequest } from '../helpers/raw-request.js'
import { CookieJar, scriptedLogin } from '../helpers/scripted-login.js'
import { DEPLOY, podEnv, type KubeObject } from './kustomize.js'

const dexConfig = parseYaml(readFileSync(join(DEPLOY, 'dex', 'dex-config.yaml'), 'utf8')) as {
  staticClients: Array<{ id: string; redirectURIs: string[] }>
  expiry: { refreshTokens: { reuseInterval: string } }
}

const linesOf = (echoed: EchoedRequest, name: string) => echoed.headerLines.filter(([header]) => header === name).map(([, value]) => value)
const SESSION_SECRETS = Buffer.alloc(32, 42).toString('base64')

/** The overlay's configuration with only what points at a cluster swapped for the test's. */
function serviceEnv(env: Record<string, string>, dex: { issuer: string; clientSecret: string }): Record<string, string> {
  // `/public`: a skip path the test gateway routes to the echo upstream, to see what a skip path forwards.
  return { ...env, OIDC_PROVIDER: dex.issuer, CLIENT_SECRET: dex.clientSecret, SESSION_SECRETS, SKIP_AUTH_URLS: `${env.SKIP_AUTH_URLS},/public` }
}

async function gateway(t: Test, options: { env: Record<string, string>; filter: Record<string, unknown>; upstream: EchoUpstream; dex: Dex; waitReady?: boolean }): Promise<Envoy> {
  const authservice = await startAuthservice(options.env, { waitReady: options.waitReady ?? true })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({
    authz: { mode: 'http', port: authservice.checkPort },
    upstreamPort: options.upstream.port,
    dexPort: options.dex.port,
    extAuthzFilter: options.filter,
  })
  t.teardown(() => envoy.stop())
  return envoy
}

export interface GatewayWiring {
  /** The rendered objects: their ConfigMap is the service's configuration. */
  objects: KubeObject[]
  /** The ext_authz filter as the gateway gets it, calling the test's cluster `authservice`. */
  filter: Record<string, unknown>
  /** How the dashboard signs out: oauth2-proxy's GET <prefix>sign_out (>= 1.9) or 1.8's POST <prefix>logout. */
  signOut: 'sign_out' | 'logout'
}

/** Runs every scenario as subtests of `t` through a gateway wired as `wiring` says. */
export async function runWiringThroughEnvoy(t: Test, wiring: GatewayWiring): Promise<void> {
  const { objects, filter } = wiring
  const { env } = podEnv(objects)
  const prefix = env.AUTHSERVICE_URL_PREFIX!
  const client = dexConfig.staticClients.find((candidate) => candidate.id === env.CLIENT_ID)
  if (!client) throw new Error(`deploy/dex/dex-config.yaml has no client ${env.CLIENT_ID}`)

  const dex = await startDex({
    clientId: client.id,
    redirectURIs: client.redirectURIs,
    refreshReuseInterval: dexConfig.expiry.refreshTokens.reuseInterval,
  })
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const envoy = await gateway(t, { env: serviceEnv(env, dex), filter, upstream, dex })
  const httpFilters = (envoy.bootstrap as any).static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters
  t.same(httpFilters[0], filter, 'the gateway runs the filter exactly as given')

  await t.test('a Dex bearer token is allowed; the upstream sees our identity headers, never the client\'s', async (t) => {
    const { id_token: token } = await dex.passwordGrant('alice@example.com')
    const response = await fetch(`${envoy.url}/notebook/alice/lab?tab=1`, {
      headers: { authorization: `Bearer ${token}`, 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins', accept: 'application/json' },
    })
    t.equal(response.status, 200)
    const echoed = (await response.json()) as EchoedRequest
    t.equal(echoed.path, '/notebook/alice/lab?tab=1')
    t.same(linesOf(echoed, 'kubeflow-userid'), ['alice@example.com'], 'exactly one kubeflow-userid, ours')
    t.same(linesOf(echoed, 'kubeflow-groups'), ['kubeflow-admins,team-a'], 'groups replace the client value')
    const authorization = linesOf(echoed, 'authorization')
    t.equal(authorization.length, 1, 'one authorization header')
    if (env.SET_AUTHORIZATION_HEADER === 'true') {
      const forwarded = await jwtVerify(authorization[0]!.replace(/^Bearer /, ''), createRemoteJWKSet(new URL(`${dex.issuer}/keys`)), {
        issuer: dex.issuer,
        audience: dex.clientId,
      })
      t.equal(forwarded.payload.email, 'alice@example.com', 'authorization: Bearer <the Dex ID token> for RequestAuthentication')
    }

    const user = await dex.passwordGrant('user@example.com')
    const noGroups = (await (
      await fetch(`${envoy.url}/pipeline/`, { headers: { authorization: `bearer ${user.id_token}`, 'kubeflow-groups': 'kubeflow-admins' } })
    ).json()) as EchoedRequest
    t.same(linesOf(noGroups, 'kubeflow-userid'), ['user@example.com'])
    t.same(linesOf(noGroups, 'kubeflow-groups'), [], 'a user without groups: the client-sent kubeflow-groups is removed')
  })

  await t.test('skip paths pass without identity; /dex is reachable without a session', async (t) => {
    const response = await fetch(`${envoy.url}/public/help`, { headers: { 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins' } })
    t.equal(response.status, 200)
    const echoed = (await response.json()) as EchoedRequest
    t.same(linesOf(echoed, 'kubeflow-userid'), [], 'no kubeflow-userid upstream')
    t.same(linesOf(echoed, 'kubeflow-groups'), [], 'no kubeflow-groups upstream')
    const discovery = await fetch(`${envoy.url}/dex/.well-known/openid-configuration`)
    t.equal(discovery.status, 200)
    t.equal(((await discovery.json()) as { issuer: string }).issuer, dex.issuer)
    for (const path of ['/dex/../api/x', '/dex/%2e%2e/api/x', `${prefix}../notebooks`]) {
      t.equal((await fetch(`${envoy.url}${path}`, { headers: { accept: 'application/json' } })).status, 401, `${path} is not a skip path`)
    }
  })

  await t.test('denies reach the client with their headers, and never the upstream', async (t) => {
    const before = upstream.received.length
    const api = await fetch(`${envoy.url}/api/workgroup/env-info`, { headers: { accept: 'application/json' } })
    t.equal(api.status, 401)
    t.match(api.headers.get('www-authenticate'), /^Bearer /)
    t.match(api.headers.get('content-type'), /^application\/json/, 'content-type (allowed_client_headers)')
    t.equal(api.headers.get('cache-control'), 'no-store', 'cache-control (allowed_client_headers)')
    t.match(api.headers.get('content-security-policy'), /frame-ancestors 'none'/, 'content-security-policy (allowed_client_headers)')
    t.match(await api.json(), { error: 'unauthenticated' })

    const navigation = await rawRequest(`${envoy.url}/pipeline/?ns=user`, { headers: NAVIGATION_HEADERS })
    t.equal(navigation.status, 302, 'a navigation is sent to Dex')
    t.equal(new URL(navigation.header('location')!, envoy.url).pathname, env.OIDC_AUTH_URL, 'at OIDC_AUTH_URL, through the gateway')
    t.ok(navigation.setCookies().length > 0, 'the login-flow cookie reaches the browser (set-cookie on deny)')
    t.equal(navigation.header('referrer-policy'), 'no-referrer', 'referrer-policy (allowed_client_headers)')

    // oidc-authservice's cookie of the same name (a gorilla/securecookie value keyed to its BoltDB):
    // after the switch it means nothing, and the user simply logs in again.
    const legacyCookie = 'authservice_session=MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQUpQLUNBQUVHYzNSeWFXNW5EQVlBQkhWelpYST18Zm9v'
    const migrated = await rawRequest(`${envoy.url}/pipeline/`, { headers: { ...NAVIGATION_HEADERS, cookie: legacyCookie } })
    t.equal(migrated.status, 302, "an oidc-authservice session cookie is no session: back to Dex")
    t.equal(new URL(migrated.header('location')!, envoy.url).pathname, env.OIDC_AUTH_URL)

    const { id_token: token } = await dex.passwordGrant('alice@example.com')
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    const refused = await fetch(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${tampered}` } })
    t.equal(refused.status, 401)
    t.match(refused.headers.get('www-authenticate'), /error="invalid_token"/)
    const options = await fetch(`${envoy.url}/api/v1/pipelines`, { method: 'OPTIONS' })
    t.equal(options.status, 401, 'OPTIONS is checked like any other method')
    t.equal(upstream.received.length, before, 'the upstream saw none of them')
  })

  await t.test('a login through the gateway: Dex redirects to the registered callback, the check answers it', async (t) => {
    const login = await scriptedLogin(envoy.url, '/pipeline/?ns=user', 'user@example.com', '12341234')
    t.equal(login.final.status, 200)
    const callback = new URL(env.REDIRECT_URL ?? `${prefix}oidc/callback`, envoy.url).pathname
    t.ok(
      login.hops.some((hop) => hop.status >= 300 && hop.status < 400 && new URL(hop.header('location') ?? '/', envoy.url).pathname === callback),
      `Dex sent the browser to ${callback}`,
    )
    const final = new URL(login.finalUrl)
    t.equal(final.pathname + final.search, '/pipeline/?ns=user', 'back on the page asked for')
    const echoed = JSON.parse(login.final.body) as EchoedRequest
    t.same(linesOf(echoed, 'kubeflow-userid'), ['user@example.com'], 'the upstream sees the signed-in user')

    const api = await rawRequest(`${envoy.url}/api/workgroup/env-info`, { headers: { accept: 'application/json', cookie: login.jar.header() } })
    t.equal(api.status, 200, 'the session cookie works for API calls')
    const apiEcho = JSON.parse(api.body) as EchoedRequest
    t.same(linesOf(apiEcho, 'kubeflow-userid'), ['user@example.com'])
    if (env.SET_AUTHORIZATION_HEADER === 'true') t.match(linesOf(apiEcho, 'authorization'), [/^Bearer eyJ/], 'the session\'s ID token goes upstream')

    // Logout the way each Kubeflow's dashboard does it, answered inside the check.
    const before = upstream.received.length
    const jar = new CookieJar()
    for (const [name, value] of login.jar.cookies) jar.cookies.set(name, value)
    const logout =
      wiring.signOut === 'sign_out'
        ? await rawRequest(`${envoy.url}${prefix}sign_out`, { headers: { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'same-origin', cookie: jar.header() } })
        : await rawRequest(`${envoy.url}${prefix}logout`, { method: 'POST', headers: { accept: 'application/json', cookie: jar.header(), 'x-requested-with': 'XMLHttpRequest' } })
    t.not(logout.status, 200, `logout (${logout.status}) is answered by the check`)
    t.ok(logout.setCookies().length > 0, 'the session cookie is cleared (set-cookie on deny)')
    jar.store(logout)
    const after = await rawRequest(`${envoy.url}/api/x`, { headers: { accept: 'application/json', cookie: jar.header() } })
    t.equal(after.status, 401, 'signed out')
    const page = await rawRequest(`${envoy.url}${prefix}site/after_logout`, { headers: NAVIGATION_HEADERS })
    t.match(page.header('content-type'), /^text\/html/, "the service's after-logout page is answered by the check")
    t.equal(upstream.received.length, before, 'none of it reached the upstream')
  })

  await t.test('the identity provider down: 401 with retry-after reaches the client, never a 5xx', async (t) => {
    const down = await gateway(t, {
      env: serviceEnv(env, { issuer: `http://127.0.0.1:${await freePort()}/dex`, clientSecret: dex.clientSecret }),
      filter,
      upstream,
      dex,
      waitReady: false,
    })
    const api = await fetch(`${down.url}/api/x`, { headers: { accept: 'application/json' } })
    t.equal(api.status, 401)
    t.equal(api.headers.get('retry-after'), '5', 'retry-after (allowed_client_headers)')
    const dexThrough = await fetch(`${down.url}/dex/.well-known/openid-configuration`)
    t.equal(dexThrough.status, 200, '/dex still flows while authservice has never reached the provider')
    t.equal((await down.extAuthzStats()).error ?? 0, 0, 'no failed check')
  })

  const stats = await envoy.extAuthzStats()
  t.equal(stats.error ?? 0, 0, 'Envoy counted no failed check (a bare 403)')
  t.ok((stats.ok ?? 0) > 0 && (stats.denied ?? 0) > 0, `the filter ran: ${JSON.stringify(stats)}`)
}
