/**
 * The ext_authz check through real Envoy and Dex, written once for both transports: a table of
 * scenarios, each naming the service profile it needs, and a runner that starts one gateway per
 * profile (Dex, the echo upstream, the real service, the transport's check server, Envoy) and runs
 * that profile's scenarios against it. A transport only says how to serve the check to Envoy, so
 * the HTTP and gRPC modes are held to the same expectations (envoy-ext-authz.md §5).
 */
import type { Test } from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import type { CheckRequest } from '../../src/check/pipeline.js'
import type { CheckReply } from '../../src/check/respond.js'
import type { Service } from '../../src/service.js'
import { kubeflowEnv, startAuthservice, type RunningAuthservice } from './authservice.js'
import { startDex, type Dex } from './dex.js'
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from './echo-upstream.js'
import { startEnvoy, type Envoy } from './envoy.js'
import { freePort } from './ports.js'
import { NAVIGATION_HEADERS, rawRequest } from './raw-request.js'
import { scriptedLogin } from './scripted-login.js'
import { TWO_COOKIES } from './transport-scenarios.js'

/** How a transport serves the check to Envoy; it registers its own teardown on `t`. */
export interface CheckTransport {
  readonly mode: 'http' | 'grpc'
  /**
   * Serves the running service's check — or, when `stub` is given, answers every check with the
   * CheckReply it returns (replies the service cannot be made to produce) — and returns the port.
   */
  serve(t: Test, service: Service, stub?: (request: CheckRequest) => CheckReply): Promise<number>
}

export interface Gateway {
  readonly dex: Dex
  readonly upstream: EchoUpstream
  readonly envoy: Envoy
  readonly authservice: RunningAuthservice
}

interface Profile {
  /** The service's environment on top of kubeflowEnv(dex). */
  env(dex: Dex): Promise<Record<string, string>>
  /** Wait for the provider's keys before running (false when the provider is meant to be down). */
  readonly waitReady: boolean
  readonly stub?: (request: CheckRequest) => CheckReply
}

export const PROFILES = {
  kubeflow: { env: async () => ({ SET_AUTHORIZATION_HEADER: 'true', SET_XAUTHREQUEST: 'true' }), waitReady: true },
  allowlist: { env: async () => ({ GROUPS_ALLOWLIST: 'kubeflow-admins,team-b', ALLOWED_EMAIL_DOMAINS: 'example.com' }), waitReady: true },
  // Nothing listens there: the service never gets the provider's keys.
  providerDown: { env: async () => ({ OIDC_PROVIDER: `http://127.0.0.1:${await freePort()}/dex` }), waitReady: false },
  handBuiltReplies: {
    env: async () => ({}),
    waitReady: true,
    stub: (request) =>
      request.target.startsWith('/two-cookies-deny')
        ? { kind: 'deny', status: 302, headers: [['location', '/elsewhere'], ...TWO_COOKIES], body: '' }
        : { kind: 'allow', upstreamHeaders: [], removeHeaders: [], responseHeaders: TWO_COOKIES },
  },
} satisfies Record<string, Profile>

export type ProfileName = keyof typeof PROFILES

export interface CheckScenario {
  readonly name: string
  readonly profile: ProfileName
  run(t: Test, gateway: Gateway): Promise<void>
}

/** Every value of one header as the upstream received it (duplicates kept). */
export const linesOf = (echoed: EchoedRequest, name: string) =>
  echoed.headerLines.filter(([header]) => header === name).map(([, value]) => value)

/** oauth2-proxy's identity headers as a client would forge them (Kubeflow >= 1.9 apps may read them). */
const FORGED_X_AUTH_REQUEST = {
  'x-auth-request-user': 'attacker@example.com',
  'x-auth-request-email': 'attacker@example.com',
  'x-auth-request-groups': 'admins',
  'x-auth-request-preferred-username': 'attacker',
}
const X_AUTH_REQUEST_HEADERS = Object.keys(FORGED_X_AUTH_REQUEST)

/** The X-Auth-Request-* lines the upstream received, by header (absent = no line). */
const xAuthRequestSeen = (echoed: EchoedRequest) =>
  Object.fromEntries(X_AUTH_REQUEST_HEADERS.map((name) => [name, linesOf(echoed, name)]).filter(([, lines]) => lines!.length > 0))

export const CHECK_SCENARIOS: readonly CheckScenario[] = [
  {
    name: 'a Dex token is allowed; the upstream sees exactly one kubeflow-userid, ours, when the client spoofed one',
    profile: 'kubeflow',
    async run(t, { dex, envoy }) {
      const { id_token: token } = await dex.passwordGrant('alice@example.com')
      const response = await fetch(`${envoy.url}/notebook/alice/lab?tab=1`, {
        headers: { authorization: `Bearer ${token}`, 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins', accept: 'application/json', ...FORGED_X_AUTH_REQUEST },
      })
      t.equal(response.status, 200)
      const echoed = (await response.json()) as EchoedRequest
      t.equal(echoed.path, '/notebook/alice/lab?tab=1', 'the request reaches the upstream unchanged')
      t.same(linesOf(echoed, 'kubeflow-userid'), ['alice@example.com'], 'exactly one kubeflow-userid, ours (append_action)')
      t.same(linesOf(echoed, 'kubeflow-groups'), ['kubeflow-admins,team-a'], 'groups replace the client value')
      t.same(
        xAuthRequestSeen(echoed),
        { 'x-auth-request-user': ['alice@example.com'], 'x-auth-request-email': ['alice@example.com'], 'x-auth-request-groups': ['kubeflow-admins,team-a'] },
        'SET_XAUTHREQUEST: oauth2-proxy\'s headers are ours, one each; the forged preferred-username is gone',
      )
      const authorization = linesOf(echoed, 'authorization')
      t.equal(authorization.length, 1, 'one authorization header')
      const forwarded = await jwtVerify(authorization[0]!.replace(/^Bearer /, ''), createRemoteJWKSet(new URL(`${dex.issuer}/keys`)), {
        issuer: dex.issuer,
        audience: dex.clientId,
      })
      t.equal(forwarded.payload.email, 'alice@example.com', 'authorization: Bearer <the Dex ID token> (Kubeflow >= 1.9)')
    },
  },
  {
    name: 'a user without groups: a client-sent kubeflow-groups never reaches the upstream',
    profile: 'kubeflow',
    async run(t, { dex, envoy }) {
      const { id_token: token } = await dex.passwordGrant('user@example.com')
      const response = await fetch(`${envoy.url}/pipeline/`, { headers: { authorization: `bearer ${token}`, 'kubeflow-groups': 'kubeflow-admins' } })
      t.equal(response.status, 200)
      const echoed = (await response.json()) as EchoedRequest
      t.same(linesOf(echoed, 'kubeflow-userid'), ['user@example.com'])
      t.same(linesOf(echoed, 'kubeflow-groups'), [], 'removed, not passed through')
    },
  },
  {
    name: 'skip paths pass without identity, and spoofed identity headers are stripped',
    profile: 'kubeflow',
    async run(t, { dex, envoy }) {
      const response = await fetch(`${envoy.url}/public/help`, { headers: { 'kubeflow-userid': 'attacker@example.com', 'kubeflow-groups': 'admins', ...FORGED_X_AUTH_REQUEST } })
      t.equal(response.status, 200)
      const echoed = (await response.json()) as EchoedRequest
      t.same(linesOf(echoed, 'kubeflow-userid'), [], 'no kubeflow-userid upstream')
      t.same(linesOf(echoed, 'kubeflow-groups'), [], 'no kubeflow-groups upstream')
      t.same(xAuthRequestSeen(echoed), {}, 'no X-Auth-Request-* upstream')
      const discovery = await fetch(`${envoy.url}/dex/.well-known/openid-configuration`)
      t.equal(discovery.status, 200, '/dex is reachable through the gateway without a session')
      t.equal(((await discovery.json()) as { issuer: string }).issuer, dex.issuer)
    },
  },
  {
    name: 'an API call without a credential gets 401 JSON with a Bearer challenge, and never reaches the upstream',
    profile: 'kubeflow',
    async run(t, { envoy, upstream }) {
      const before = upstream.received.length
      const response = await fetch(`${envoy.url}/api/workgroup/env-info`, { headers: { accept: 'application/json' } })
      t.equal(response.status, 401)
      t.match(response.headers.get('www-authenticate'), /^Bearer /)
      t.match(response.headers.get('content-type'), /^application\/json/)
      t.equal(response.headers.get('cache-control'), 'no-store')
      t.match(await response.json(), { error: 'unauthenticated' })
      t.equal(upstream.received.length, before, 'the upstream never saw it')
    },
  },
  {
    name: 'a navigation without a session is sent to Dex with its flow cookie; OPTIONS gets no free pass',
    profile: 'kubeflow',
    async run(t, { envoy }) {
      for (const headers of [NAVIGATION_HEADERS, { accept: '*/*' }]) {
        const response = await rawRequest(`${envoy.url}/pipeline/?ns=user`, { headers })
        t.equal(response.status, 302, `${headers.accept}: redirected`)
        t.equal(new URL(response.header('location')!, envoy.url).pathname, '/dex/auth', 'to OIDC_AUTH_URL')
        t.ok(response.setCookies().some((cookie) => cookie.startsWith('authservice_flow_')), 'the flow cookie reaches the browser')
        t.equal(response.header('cache-control'), 'no-store')
      }
      const options = await fetch(`${envoy.url}/api/v1/pipelines`, { method: 'OPTIONS' })
      t.equal(options.status, 401, 'OPTIONS is checked like any other method')
    },
  },
  {
    name: 'a scripted Dex login through the gateway (callback answered by the check) ends with a working session',
    profile: 'kubeflow',
    async run(t, { envoy }) {
      const login = await scriptedLogin(envoy.url, '/pipeline/?ns=user', 'user@example.com', '12341234')
      t.equal(login.final.status, 200)
      t.equal(new URL(login.finalUrl).pathname + new URL(login.finalUrl).search, '/pipeline/?ns=user', 'back on the page asked for')
      const echoed = JSON.parse(login.final.body) as EchoedRequest // the login sends accept: */*, so JSON
      t.same(linesOf(echoed, 'kubeflow-userid'), ['user@example.com'], 'the upstream sees the signed-in user')
    },
  },
  {
    name: 'path tricks are checked on the path Envoy routes',
    profile: 'kubeflow',
    async run(t, { envoy }) {
      for (const path of ['/dex/../api/x', '/dex/%2e%2e/api/x', '/authservice/../notebooks']) {
        const response = await fetch(`${envoy.url}${path}`, { headers: { accept: 'application/json' } })
        t.equal(response.status, 401, `${path} is not a skip path`)
      }
    },
  },
  {
    name: 'an invalid token is refused with 401 and invalid_token',
    profile: 'kubeflow',
    async run(t, { dex, envoy }) {
      const { id_token: token } = await dex.passwordGrant('alice@example.com')
      const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
      const response = await fetch(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${tampered}` } })
      t.equal(response.status, 401)
      t.match(response.headers.get('www-authenticate'), /error="invalid_token"/)
    },
  },
  {
    name: 'GROUPS_ALLOWLIST and ALLOWED_EMAIL_DOMAINS answer 403 (a page for navigations, JSON for APIs)',
    profile: 'allowlist',
    async run(t, { dex, envoy }) {
      const alice = await dex.passwordGrant('alice@example.com')
      const allowed = await fetch(`${envoy.url}/x`, { headers: { authorization: `Bearer ${alice.id_token}`, ...FORGED_X_AUTH_REQUEST } })
      t.equal(allowed.status, 200, 'an allowed group and domain pass')
      t.same(xAuthRequestSeen((await allowed.json()) as EchoedRequest), {}, 'SET_XAUTHREQUEST off: client-sent X-Auth-Request-* are removed on allow')
      const user = await dex.passwordGrant('user@example.com')
      // A bearer token is never a navigation (browsers send none): the refusal is JSON even on a page path.
      const noGroup = await rawRequest(`${envoy.url}/x`, { headers: { authorization: `Bearer ${user.id_token}`, ...NAVIGATION_HEADERS } })
      t.equal(noGroup.status, 403)
      t.match(noGroup.header('content-type'), /^application\/json/)
      t.match(JSON.parse(noGroup.body), { error: 'forbidden', user: 'user@example.com' }, 'the answer says who is signed in')
      const bob = await dex.passwordGrant('bob@example.org')
      const wrongDomain = await fetch(`${envoy.url}/api/x`, { headers: { authorization: `Bearer ${bob.id_token}` } })
      t.equal(wrongDomain.status, 403)
      t.match(await wrongDomain.json(), { error: 'forbidden', user: 'bob@example.org' })
    },
  },
  {
    name: 'identity provider down: 401 with Retry-After for API calls and navigations, never a 5xx',
    profile: 'providerDown',
    async run(t, { envoy }) {
      const api = await fetch(`${envoy.url}/api/x`, { headers: { accept: 'application/json' } })
      t.equal(api.status, 401)
      t.equal(api.headers.get('retry-after'), '5')
      t.match(await api.text(), /unavailable/i)
      const page = await rawRequest(`${envoy.url}/`, { headers: NAVIGATION_HEADERS })
      t.equal(page.status, 401, 'a navigation too (no redirect to a provider that is not there)')
      t.equal(page.header('retry-after'), '5')
      t.match(page.header('content-type'), /^text\/html/)
    },
  },
  {
    name: 'a deny carrying two Set-Cookie reaches the client with both (and its Location)',
    profile: 'handBuiltReplies',
    async run(t, { envoy }) {
      const response = await rawRequest(`${envoy.url}/two-cookies-deny`, { headers: NAVIGATION_HEADERS })
      t.equal(response.status, 302)
      t.equal(response.header('location'), '/elsewhere')
      t.same(response.setCookies(), TWO_COOKIES.map(([, value]) => value))
    },
  },
  {
    name: 'an allow carrying two Set-Cookie adds both to the upstream\'s response',
    profile: 'handBuiltReplies',
    async run(t, { envoy }) {
      const response = await rawRequest(`${envoy.url}/two-cookies-allow`, { headers: { accept: 'application/json' } })
      t.equal(response.status, 200)
      t.equal((JSON.parse(response.body) as EchoedRequest).path, '/two-cookies-allow', 'the upstream answered')
      t.same(response.setCookies(), TWO_COOKIES.map(([, value]) => value))
    },
  },
]

async function startGateway(t: Test, transport: CheckTransport, dex: Dex, upstream: EchoUpstream, profile: Profile): Promise<Gateway> {
  const authservice = await startAuthservice({ ...kubeflowEnv(dex), ...(await profile.env(dex)) }, { waitReady: profile.waitReady })
  t.teardown(() => authservice.close())
  const port = await transport.serve(t, authservice.service, profile.stub)
  const envoy = await startEnvoy({ authz: { mode: transport.mode, port }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())
  return { dex, upstream, envoy, authservice }
}

/** Runs the scenarios through `transport`, one gateway per profile; Envoy must count no failed check and no token be logged. */
export async function runCheckScenarios(t: Test, transport: CheckTransport, scenarios: readonly CheckScenario[] = CHECK_SCENARIOS): Promise<void> {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  for (const name of new Set(scenarios.map((scenario) => scenario.profile))) {
    await t.test(`${transport.mode} mode, ${name} profile`, async (t) => {
      const gateway = await startGateway(t, transport, dex, upstream, PROFILES[name])
      for (const scenario of scenarios.filter((candidate) => candidate.profile === name)) {
        await t.test(scenario.name, (t) => scenario.run(t, gateway))
      }
      const stats = await gateway.envoy.extAuthzStats()
      t.equal(stats.error ?? 0, 0, 'Envoy counted no failed check (an error would be a bare 403, or an allow when fail-open)')
      t.notMatch(gateway.authservice.rawLogs(), /eyJ[\w-]+\.eyJ/, 'no JWT was ever logged')
    })
  }
}
