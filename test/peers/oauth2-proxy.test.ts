// The benchmark's peer: the oauth2-proxy test/peers/install.sh builds, configured like Kubeflow's
// (test/helpers/oauth2-proxy.ts), really checks credentials. An API route answers 401 without one,
// 200 with a valid bearer ID token of the issuer (skip_jwt_bearer_tokens), 401 with a forged one, and
// 200 with the session cookie its own login through real Dex set.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { startDex } from '../helpers/dex.js'
import { OAUTH2_PROXY_CALLBACK, startOAuth2Proxy } from '../helpers/oauth2-proxy.js'
import { oauth2ProxySessionCookie } from '../helpers/oauth2-proxy-login.js'
import { installedPeer, peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { runToCompletion } from '../helpers/peer-process.js'
import { startTestIssuer } from '../helpers/test-issuer.js'

const API = '/pipeline/apis/v2beta1/runs'

t.test('oauth2-proxy is the version test/oauth2-proxy/go.mod pins', { skip: skipUnlessPeers('oauth2-proxy') }, async (t) => {
  const goMod = readFileSync(new URL('../oauth2-proxy/go.mod', import.meta.url), 'utf8')
  const pinned = /github\.com\/oauth2-proxy\/oauth2-proxy\/v7 (v\S+)/.exec(goMod)?.[1]
  t.ok(pinned, 'go.mod requires github.com/oauth2-proxy/oauth2-proxy/v7')
  // The version the build stamped (pkg/version.VERSION), as the binary itself reports it.
  const { code, output } = await runToCompletion(installedPeer('oauth2-proxy'), ['--version'])
  t.equal(code, 0)
  t.match(output, `oauth2-proxy ${pinned} `)
  t.equal(peerVersion('oauth2-proxy'), pinned, 'the manifest records it')
})

const statusOf = async (url: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { headers: { accept: 'application/json', ...headers } })
  await response.arrayBuffer()
  return response.status
}

t.test('bearer tokens of the issuer are verified (skip_jwt_bearer_tokens)', { skip: skipUnlessPeers('oauth2-proxy') }, async (t) => {
  t.comment(`oauth2-proxy ${peerVersion('oauth2-proxy')}`)
  const issuer = await startTestIssuer({ path: '/dex' })
  t.teardown(() => issuer.close())
  const proxy = await startOAuth2Proxy({ issuer: issuer.issuer })
  t.teardown(() => proxy.stop())

  const valid = await issuer.sign()
  const forged = `${valid.slice(0, valid.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`
  t.equal(await statusOf(`${proxy.url}${API}`), 401, 'no credential on an API route: 401')
  t.equal(await statusOf(`${proxy.url}${API}`, { authorization: `Bearer ${valid}` }), 200, 'a valid bearer: 200')
  t.equal(await statusOf(`${proxy.url}${API}`, { authorization: `Bearer ${forged}` }), 401, 'a forged signature: 401')
  const foreign = await issuer.sign({}, { key: 'foreign-rsa' })
  t.equal(await statusOf(`${proxy.url}${API}`, { authorization: `Bearer ${foreign}` }), 401, 'a key the issuer never published: 401')
  const otherAudience = await issuer.sign({ aud: 'someone-else' })
  t.equal(await statusOf(`${proxy.url}${API}`, { authorization: `Bearer ${otherAudience}` }), 401, 'another audience: 401')
})

t.test('its own login through Dex yields a session cookie it accepts', { skip: skipUnlessPeers('oauth2-proxy', 'dex') }, async (t) => {
  const dex = await startDex({ redirectURIs: [OAUTH2_PROXY_CALLBACK] })
  t.teardown(() => dex.stop())
  const proxy = await startOAuth2Proxy({ issuer: dex.issuer, clientId: dex.clientId, clientSecret: dex.clientSecret })
  t.teardown(() => proxy.stop())

  t.equal(await statusOf(`${proxy.url}${API}`), 401, 'no credential: 401')
  const cookie = await oauth2ProxySessionCookie(proxy, dex)
  t.equal(await statusOf(`${proxy.url}${API}`, { cookie }), 200, 'its session cookie: 200')
  const tampered = cookie.replace(/=(.)/, (_, first: string) => `=${first === 'A' ? 'B' : 'A'}`)
  t.equal(await statusOf(`${proxy.url}${API}`, { cookie: tampered }), 401, 'the cookie altered: 401')
})
