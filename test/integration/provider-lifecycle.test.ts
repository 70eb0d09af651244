// Dex down at start, then up; Dex rotating its signing key: no restart needed, no valid request refused.
import t from 'tap'
import { kubeflowEnv, startAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { NAVIGATION_HEADERS, rawRequest } from '../helpers/raw-request.js'
import { freePort } from '../helpers/ports.js'
import { waitUntil, answers } from '../helpers/wait.js'

const skip = skipUnlessPeers('dex')

t.test('provider down at start: skip paths answered, others told the provider is unavailable, ready once Dex is up', { skip }, async (t) => {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}/dex`
  const clientSecret = 'provider-lifecycle-client-secret-0123456789'
  const authservice = await startAuthservice(kubeflowEnv({ issuer, clientId: 'kubeflow-oidc-authservice', clientSecret }), { waitReady: false })
  t.teardown(() => authservice.close())

  t.equal((await fetch(`${authservice.opsUrl}/readyz`)).status, 503, 'not ready while Dex is down')
  t.equal((await fetch(`${authservice.opsUrl}/`)).status, 503, 'Kubeflow’s probe path says the same')
  t.equal((await fetch(`${authservice.opsUrl}/healthz`)).status, 200, 'but alive')
  t.equal((await fetch(`${authservice.checkUrl}/dex/auth?client_id=x`)).status, 200, 'the skip path /dex is answered')

  const api = await fetch(`${authservice.checkUrl}/api/x`, { headers: { accept: 'application/json' } })
  t.equal(api.status, 401, 'never a 5xx')
  t.equal(api.headers.get('retry-after'), '5')
  t.match(await api.json(), { error: 'identity_provider_unavailable' })
  const page = await rawRequest(`${authservice.checkUrl}/`, { headers: NAVIGATION_HEADERS })
  t.equal(page.status, 401)
  t.match(page.body, /identity provider is unavailable[\s\S]*http-equiv="refresh"|http-equiv="refresh"[\s\S]*identity provider is unavailable/)

  const dex = await startDex({ port, clientSecret })
  t.teardown(() => dex.stop())
  await waitUntil('authservice ready after Dex came up', () => answers(`${authservice.opsUrl}/readyz`), { timeoutMs: 40_000, intervalMs: 200 })
  const { id_token: token } = await dex.passwordGrant('user@example.com')
  const allowed = await fetch(`${authservice.checkUrl}/notebooks`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(allowed.status, 200, 'works without a restart')
  t.equal(allowed.headers.get('kubeflow-userid'), 'user@example.com')
})

t.test('a token signed with a key Dex rotated to is accepted within seconds, old tokens keep working', { skip }, async (t) => {
  // Dex rotates on its 30 s tick once the period has passed.
  const dex = await startDex({ keysRotationPeriod: '5s' })
  t.teardown(() => dex.stop())
  const authservice = await startAuthservice(kubeflowEnv(dex))
  t.teardown(() => authservice.close())

  const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid
  const before = (await dex.passwordGrant('user@example.com')).id_token
  t.equal((await fetch(`${authservice.checkUrl}/x`, { headers: { authorization: `Bearer ${before}` } })).status, 200)

  let after = before
  await waitUntil(
    'Dex to rotate its signing key',
    async () => {
      after = (await dex.passwordGrant('user@example.com')).id_token
      return kidOf(after) !== kidOf(before)
    },
    { timeoutMs: 75_000, intervalMs: 1_000 },
  )
  const fresh = await fetch(`${authservice.checkUrl}/x`, { headers: { authorization: `Bearer ${after}` } })
  t.equal(fresh.status, 200, 'the first request with the new key is allowed (JWKS refetched on the unknown kid)')
  const old = await fetch(`${authservice.checkUrl}/y`, { headers: { authorization: `Bearer ${before}` } })
  t.equal(old.status, 200, 'a token signed before the rotation still verifies')
})
