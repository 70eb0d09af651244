// Identity headers carry the claim's UTF-8 octets, through real Envoy in both transports and in the
// Kubeflow >= 1.9 setting where Istio's jwt_authn (Kubeflow's `dex-jwt`) writes kubeflow-userid and
// kubeflow-groups again from the token we forward: the bytes asserted are the bytes the upstream
// reads off the wire. A name outside Latin-1 (`开发组`) or inside it (`josé`) gets in, both modes send
// the same octets, the logged decision is the answer sent; a group containing `,` is set aside
// (ERR_GROUP_NAME_INVALID); a control character in a claim that becomes a header is a 401
// (ERR_CLAIM_HEADER_UNSAFE), never a 5xx. Tokens come from the test issuer (test/helpers/test-issuer.ts).
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { createGrpcServer } from '../../src/grpc/server.js'
import { createLogger } from '../../src/log/logger.js'
import { kubeflowEnv, startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { headerOctets, startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy, type Envoy } from '../helpers/envoy.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { rawRequest } from '../helpers/raw-request.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer, type Claims, type TestIssuer } from '../helpers/test-issuer.js'
import { extAuthzFilterOfRenderedPolicy } from '../deploy/istio-ext-authz.js'
import { jwtAuthnFilterFromRequestAuthentication, type RequestAuthentication } from '../deploy/istio-jwt-authn.js'
import { DEPLOY, kustomizeBuild, parseObjects, podEnv } from '../deploy/kustomize.js'

const EMAIL = 'josé@example.com'
const GROUPS = ['开发组', 'équipe-a']
const utf8 = (text: string) => Buffer.from(text, 'utf8')
/** What a client forges; none of it may reach the upstream beside ours. */
const FORGED = { 'kubeflow-userid': 'admin@example.com', 'kubeflow-groups': 'kubeflow-admins', 'x-auth-request-email': 'admin@example.com' }

interface Gateway {
  readonly op: TestIssuer
  readonly upstream: EchoUpstream
  readonly authservice: RunningAuthservice
  readonly envoy: Envoy
}

/** A bearer API call through the gateway with a token of `claims`; the answer, what the upstream saw, and the decision logged. */
async function call(gateway: Gateway, claims: Claims) {
  const token = await gateway.op.sign(claims)
  const received = gateway.upstream.received.length
  const decisions = gateway.authservice.logs().filter((line) => line.msg === 'decision').length
  const answer = await rawRequest(`${gateway.envoy.url}/api/x`, { headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...FORGED } })
  const logged = gateway.authservice.logs().filter((line) => line.msg === 'decision')
  return {
    status: answer.status,
    answer,
    echoed: gateway.upstream.received.length > received ? gateway.upstream.received.at(-1) : undefined,
    decision: logged.length === decisions + 1 ? logged.at(-1) : undefined,
  }
}

/** Envoy, the service and the test issuer; `serve` says how the service answers Envoy (HTTP: its own port). */
async function startGateway(
  t: Test,
  env: Record<string, string>,
  envoyOptions: (port: number) => Parameters<typeof startEnvoy>[0],
  serve: (authservice: RunningAuthservice) => Promise<number> = async (authservice) => authservice.checkPort,
  op?: TestIssuer,
): Promise<Gateway> {
  op ??= await startTestIssuer({ path: '/dex' })
  t.teardown(() => op.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const authservice = await startAuthservice({ ...env, OIDC_PROVIDER: op.issuer })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ ...envoyOptions(await serve(authservice)), upstreamPort: upstream.port })
  t.teardown(() => envoy.stop())
  return { op, upstream, authservice, envoy }
}

async function serveGrpc(t: Test, authservice: RunningAuthservice): Promise<number> {
  const server = createGrpcServer({ handle: authservice.service.handle, logger: createLogger('silent'), isReady: () => authservice.service.isReady(), shutdownTimeoutMs: 2_000 })
  t.teardown(() => server.close())
  return server.listen('127.0.0.1', 0)
}

const ENV = {
  ...kubeflowEnv({ issuer: 'set-per-gateway', clientId: KUBEFLOW_CLIENT_ID, clientSecret: 'test-client-secret' }),
  SET_XAUTHREQUEST: 'true',
}

for (const mode of ['http', 'grpc'] as const) {
  t.test(`${mode} mode through real Envoy`, { skip: skipUnlessPeers('envoy') }, async (t) => {
    const gateway = await startGateway(
      t,
      ENV,
      (port) => ({ authz: { mode, port }, upstreamPort: 0 }),
      mode === 'grpc' ? (authservice) => serveGrpc(t, authservice) : undefined,
    )

    await t.test('names inside and outside Latin-1 reach the upstream as their UTF-8 octets; the logged allow is the 200 sent', async (t) => {
      const { status, echoed, decision } = await call(gateway, { email: EMAIL, groups: GROUPS })
      t.equal(status, 200)
      t.match(decision, { outcome: 'allow', user: EMAIL }, 'the decision logged is the answer sent')
      t.ok(echoed, 'the upstream got the request')
      for (const [header, value] of [
        ['kubeflow-userid', EMAIL],
        ['kubeflow-groups', GROUPS.join(',')],
        ['x-auth-request-user', EMAIL],
        ['x-auth-request-email', EMAIL],
        ['x-auth-request-groups', GROUPS.join(',')],
      ] as const) {
        t.same(headerOctets(echoed!, header), [utf8(value)], `${header}: one line, the UTF-8 octets of ${value}`)
      }
    })

    await t.test('a group containing "," is set aside (ERR_GROUP_NAME_INVALID), the others still sent', async (t) => {
      const { status, echoed, decision } = await call(gateway, { email: EMAIL, groups: ['开发组', 'kubeflow-admins,system:masters'] })
      t.equal(status, 200)
      t.same(headerOctets(echoed!, 'kubeflow-groups'), [utf8('开发组')], 'never read upstream as the groups kubeflow-admins and system:masters')
      t.match(decision, { outcome: 'allow', codes: ['ERR_GROUP_NAME_INVALID'] }, 'the decision log says why')
    })

    await t.test('a control character in a claim that becomes a header: 401 with ERR_CLAIM_HEADER_UNSAFE, never upstream', async (t) => {
      for (const [what, claims] of [
        ['TAB in the email (the user id)', { email: 'eve\t@example.com' }],
        ['LF in the email', { email: 'eve@example.com\nkubeflow-userid: admin@example.com' }],
        ['NUL in the email', { email: 'eve\u0000@example.com' }],
        ['BEL in a group', { groups: ['team-a', 'team\u0007b'] }],
        ['DEL in a group', { groups: ['team\u007f'] }],
        ['a lone surrogate (the JSON escape \\ud800, no UTF-8 octets) in the email', { email: 'eve\ud800@example.com' }],
      ] as const) {
        const { status, answer, echoed, decision } = await call(gateway, claims)
        t.equal(status, 401, `${what}: 401`)
        t.match(answer.header('www-authenticate'), /error="invalid_token"/, `${what}: the token is refused`)
        t.notOk(echoed, `${what}: the upstream never saw it`)
        t.match(decision, { outcome: 'unauthenticated', codes: ['ERR_CLAIM_HEADER_UNSAFE'] }, `${what}: the decision log says why`)
      }
    })

    const stats = await gateway.envoy.extAuthzStats()
    t.equal(stats.error ?? 0, 0, `Envoy counted no failed check: ${JSON.stringify(stats)}`)
  })
}

t.test('Kubeflow >= 1.9 (overlays/kubeflow): with dex-jwt\'s jwt_authn after the check, the upstream still reads the UTF-8 octets', { skip: skipUnlessPeers('envoy', 'kustomize') }, async (t) => {
  const objects = parseObjects(await kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow')))
  const { env: rendered } = podEnv(objects)
  const op = await startTestIssuer({ path: '/dex', audience: rendered.CLIENT_ID! })
  const requestAuthentication = objects.find((object) => object.kind === 'RequestAuthentication' && object.metadata.name === 'dex-jwt') as unknown as RequestAuthentication
  const gateway = await startGateway(
    t,
    { ...rendered, CLIENT_SECRET: 'test-client-secret', SESSION_SECRETS: Buffer.alloc(32, 7).toString('base64') },
    (port) => ({
      authz: { mode: 'http', port },
      upstreamPort: 0,
      extAuthzFilter: extAuthzFilterOfRenderedPolicy(objects, { cluster: 'authservice' }),
      // Istio inlines the issuer's keys into the filter (istiod fetches them).
      filtersAfterExtAuthz: [jwtAuthnFilterFromRequestAuthentication(requestAuthentication, { issuer: op.issuer, jwks: op.jwks() })],
    }),
    undefined,
    op,
  )
  const { status, echoed, decision } = await call(gateway, { email: EMAIL, groups: GROUPS })
  t.equal(status, 200)
  t.match(decision, { outcome: 'allow', user: EMAIL }, 'the decision logged is the answer sent')
  t.ok(echoed, 'the upstream got the request')
  t.same(headerOctets(echoed!, 'kubeflow-userid'), [utf8(EMAIL)], 'kubeflow-userid: one line, the UTF-8 octets (ours, then jwt_authn\'s from the same claim)')
  // Envoy's jwt_authn writes a list claim as base64 of its JSON (claim_to_headers), replacing ours:
  // with dex-jwt in the chain, x-auth-request-groups is where the comma-joined groups are.
  t.same(headerOctets(echoed!, 'kubeflow-groups'), [utf8(Buffer.from(JSON.stringify(GROUPS)).toString('base64'))], 'kubeflow-groups: jwt_authn\'s base64 JSON of the groups claim')
  t.same(headerOctets(echoed!, 'x-auth-request-groups'), [utf8(GROUPS.join(','))], 'x-auth-request-groups: ours, the UTF-8 octets')
  t.same(headerOctets(echoed!, 'x-auth-request-email'), [utf8(EMAIL)], 'x-auth-request-email: ours, the UTF-8 octets')

  const refused = await call(gateway, { email: 'eve@example.com\nkubeflow-userid: admin@example.com', groups: GROUPS })
  t.equal(refused.status, 401, 'a control character is refused by the check, before jwt_authn could copy it')
  t.notOk(refused.echoed, 'never upstream')
  const stats = await gateway.envoy.extAuthzStats()
  t.equal(stats.error ?? 0, 0, `Envoy counted no failed check: ${JSON.stringify(stats)}`)
})
