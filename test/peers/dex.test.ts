// Smoke test: the real Dex the integration tests use starts, serves discovery, and mints ID tokens
// (password grant) that verify against its own JWKS.
import t from 'tap'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { startDex } from '../helpers/dex.js'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'

t.test('Dex serves discovery and signs verifiable ID tokens', { skip: skipUnlessPeers('dex') }, async (t) => {
  t.comment(`dex ${peerVersion('dex')}`)
  const dex = await startDex()
  t.teardown(() => dex.stop())

  const discovery = (await (await fetch(`${dex.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
  t.equal(discovery.issuer, dex.issuer, 'the issuer is the loopback URL with the /dex path')
  t.equal(discovery.authorization_endpoint, `${dex.issuer}/auth`)
  t.equal(discovery.end_session_endpoint, undefined, 'Dex v2.45 has no end_session_endpoint')

  const jwks = createRemoteJWKSet(new URL(String(discovery.jwks_uri)))
  const tokens = await dex.passwordGrant('user@example.com')
  const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, {
    issuer: dex.issuer,
    audience: dex.clientId,
    algorithms: ['RS256'],
  })
  t.equal(protectedHeader.alg, 'RS256')
  t.match(protectedHeader.kid, /^[0-9a-f]{40}$/, 'kid is 40 hex characters')
  t.equal(payload.email, 'user@example.com')
  t.equal(payload.email_verified, true)
  t.ok(tokens.refresh_token, 'offline_access yields a refresh token')

  const alice = await jwtVerify((await dex.passwordGrant('alice@example.com')).id_token, jwks, {
    issuer: dex.issuer,
    audience: dex.clientId,
  })
  t.same(alice.payload.groups, ['kubeflow-admins', 'team-a'], 'static users carry their groups')

  const refreshed = await dex.refreshGrant(tokens.refresh_token!)
  t.equal(refreshed.status, 200, 'the refresh token is accepted')
})
