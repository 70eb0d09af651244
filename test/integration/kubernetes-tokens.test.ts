// Machine-to-machine through real Envoy: Kubernetes service-account tokens (KUBERNETES_TOKENS) the
// way Kubeflow's m2m overlays use them — `kubectl -n kubeflow-user-example-com create token
// default-editor` calling `/pipeline/apis/v2beta1/runs` — against our test API server
// (test/helpers/kube-apiserver.ts: issuer discovery, JWKS, TokenReview), with Dex as the primary issuer.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { kubeflowEnv, startAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy } from '../helpers/envoy.js'
import { LEGACY_ISSUER, startKubeApiServer } from '../helpers/kube-apiserver.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'

const skip = skipUnlessPeers('dex', 'envoy')
const NAMESPACE = 'kubeflow-user-example-com'
const ACCOUNT = 'default-editor'
// Long enough that "again, within the cache time" holds on a loaded CI machine.
const CACHE_SECONDS = 3

t.test('service-account tokens through real Envoy', { skip }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const kube = await startKubeApiServer()
  t.teardown(() => kube.close())
  kube.createServiceAccount(NAMESPACE, ACCOUNT)
  kube.createServiceAccount(NAMESPACE, 'pipeline-runner')

  // ALLOWED_EMAIL_DOMAINS set: service accounts have no email and get the groups policy only (issue 15, finding 6).
  const env = { ...kubeflowEnv(dex), KUBERNETES_TOKENS: 'true', KUBERNETES_TOKENREVIEW_CACHE_SECONDS: String(CACHE_SECONDS), ALLOWED_EMAIL_DOMAINS: 'example.com' }
  const authservice = await startAuthservice(env, { kubernetes: kube.credentials })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ authz: { mode: 'http', port: authservice.checkPort }, upstreamPort: upstream.port, dexPort: dex.port })
  t.teardown(() => envoy.stop())

  const call = (token: string, extra: Record<string, string> = {}) =>
    fetch(`${envoy.url}/pipeline/apis/v2beta1/runs`, { headers: { authorization: `Bearer ${token}`, ...extra } })
  const lastUpstream = () => upstream.received.at(-1)

  t.ok(authservice.service.isReady(), 'ready on Dex alone')
  t.notOk(kube.requests().some((line) => line.includes('openid-configuration')), 'the keys come from /openid/v1/jwks, never via discovery')

  await t.test('a `kubectl create token` token: 200 as system:serviceaccount:<ns>:<name>', async (t) => {
    const token = await kube.createToken(NAMESPACE, ACCOUNT)
    const before = upstream.received.length
    const answer = await call(token, { 'kubeflow-userid': 'admin@example.com' })
    t.equal(answer.status, 200)
    await answer.arrayBuffer()
    t.equal(upstream.received.length, before + 1, 'the upstream was called')
    t.equal(lastUpstream()?.headers['kubeflow-userid'], `system:serviceaccount:${NAMESPACE}:${ACCOUNT}`, 'kubeflow-userid set, the forged one replaced')
    t.equal(lastUpstream()?.headers['kubeflow-groups'], `system:serviceaccounts,system:serviceaccounts:${NAMESPACE},system:authenticated`)
    t.equal(lastUpstream()?.headers.authorization, `Bearer ${token}`, "the token is forwarded unchanged (Kubeflow's m2m RequestAuthentication)")
    const reviews = kube.reviews()
    t.equal((await call(token)).status, 200, 'again, within the cache time')
    t.equal(kube.reviews(), reviews, 'answered from the review cache')
  })

  await t.test('a deleted service account is refused once the cache time has passed', async (t) => {
    const token = await kube.createToken(NAMESPACE, 'pipeline-runner')
    t.equal((await call(token)).status, 200, 'accepted while it exists')
    kube.deleteServiceAccount(NAMESPACE, 'pipeline-runner')
    await sleep(CACHE_SECONDS * 1000 + 200)
    const answer = await call(token, { accept: 'application/json' })
    t.equal(answer.status, 401)
    t.match(answer.headers.get('www-authenticate') ?? '', /invalid_token/)
    await answer.arrayBuffer()
    t.match(authservice.rawLogs(), /ERR_TOKEN_REVIEW_REFUSED/, 'refused by the review')
  })

  await t.test('junk shaped like a service-account token costs no TokenReview', async (t) => {
    const reviews = kube.reviews()
    const real = await kube.createToken(NAMESPACE, ACCOUNT, { durationSeconds: 600 })
    const [header, payload] = real.split('.') as [string, string]
    const forged = `${header}.${payload}.${Buffer.from('not a signature at all, but long enough').toString('base64url')}`
    const claims = (issuer: string) => Buffer.from(JSON.stringify({ iss: issuer, sub: `system:serviceaccount:${NAMESPACE}:${ACCOUNT}` })).toString('base64url')
    for (const [name, token] of [
      ['a real token with a forged signature', forged],
      ['a bound-token issuer, no valid signature', `${header}.${claims(kube.issuer)}.AAAA`],
      ['a legacy token shape (legacy tokens off)', `${header}.${claims(LEGACY_ISSUER)}.AAAA`],
      ['living longer than KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS', await kube.createToken(NAMESPACE, ACCOUNT, { durationSeconds: 2 * 86400 })],
    ] as const) {
      const answer = await call(token, { accept: 'application/json' })
      t.equal(answer.status, 401, name)
      await answer.arrayBuffer()
    }
    t.equal(kube.reviews(), reviews, 'not one TokenReview')
  })

  await t.test('API server down: 401 "unavailable" with Retry-After, never an allow or a 5xx', async (t) => {
    const token = await kube.createToken(NAMESPACE, ACCOUNT, { durationSeconds: 900 })
    await kube.close()
    const before = upstream.received.length
    const answer = await call(token, { accept: 'application/json' })
    t.equal(answer.status, 401)
    t.ok(answer.headers.get('retry-after'), 'Retry-After set')
    t.match(await answer.text(), /unavailable/i)
    t.equal(upstream.received.length, before, 'the upstream was not called')
    t.ok(authservice.service.isReady(), 'readiness does not depend on the API server')
  })
})

t.test('legacy secret-based tokens only with KUBERNETES_LEGACY_TOKENS=true', { skip }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const kube = await startKubeApiServer()
  t.teardown(() => kube.close())
  kube.createServiceAccount(NAMESPACE, ACCOUNT)
  const token = await kube.legacyToken(NAMESPACE, ACCOUNT)
  for (const [legacy, expected] of [['false', 'rejected'], ['true', 'allow']] as const) {
    const authservice = await startAuthservice(
      { ...kubeflowEnv(dex), KUBERNETES_TOKENS: 'true', KUBERNETES_LEGACY_TOKENS: legacy },
      { kubernetes: kube.credentials },
    )
    t.teardown(() => authservice.close())
    const answer = await fetch(`${authservice.checkUrl}/pipeline/apis/v2beta1/runs`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(answer.status === 200 ? 'allow' : 'rejected', expected, `KUBERNETES_LEGACY_TOKENS=${legacy}`)
    if (expected === 'allow') t.equal(answer.headers.get('kubeflow-userid'), `system:serviceaccount:${NAMESPACE}:${ACCOUNT}`)
    await answer.arrayBuffer()
  }
})
