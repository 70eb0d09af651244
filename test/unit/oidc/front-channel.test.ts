/**
 * The authorization and end-session URLs, built by openid-client and appended to the endpoint
 * exactly as configured — relative or absolute, its own query untouched.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import { authorizationUrl, endSessionUrl, type AuthorizationRequest } from '../../../src/oidc/front-channel.js'

const REQUEST: AuthorizationRequest = {
  clientId: 'kubeflow-oidc-authservice',
  redirectUri: '/authservice/oidc/callback',
  scope: 'openid email groups',
  state: 'the-state',
  nonce: 'the-nonce',
  codeVerifier: 'a-pkce-verifier-of-enough-length-0123456789',
}

t.test('the authorization request: code flow, PKCE S256, state and nonce, on the relative OIDC_AUTH_URL', async (t) => {
  const location = await authorizationUrl('/dex/auth', REQUEST)
  t.ok(location.startsWith('/dex/auth?'), 'relative stays relative: the browser resolves it on its gateway')
  const params = new URL(location, 'https://gateway.invalid').searchParams
  t.same([...params.entries()], [
    ['response_type', 'code'],
    ['client_id', 'kubeflow-oidc-authservice'],
    ['redirect_uri', '/authservice/oidc/callback'],
    ['scope', 'openid email groups'],
    ['state', 'the-state'],
    ['nonce', 'the-nonce'],
    ['code_challenge', createHash('sha256').update(REQUEST.codeVerifier).digest('base64url')],
    ['code_challenge_method', 'S256'],
  ])
  t.notMatch(location, REQUEST.codeVerifier, 'the verifier never leaves the service')
  t.match(location, '&redirect_uri=%2Fauthservice%2Foidc%2Fcallback&', 'form-encoded')
})

t.test('the endpoint is kept exactly as given, its own query included, never re-encoded', async (t) => {
  for (const endpoint of ['https://idp.example.com/auth?tenant=a%20b&flag', 'http://dex.auth.svc.cluster.local:5556/dex/auth', 'https://IDP.example.com:443/auth?']) {
    const location = await authorizationUrl(endpoint, REQUEST)
    t.ok(location.startsWith(`${endpoint}${endpoint.includes('?') ? '&' : '?'}response_type=code&client_id=`), endpoint)
  }
})

t.test('RP-initiated logout: id_token_hint and client_id, post_logout_redirect_uri only when given', async (t) => {
  const bare = endSessionUrl('https://idp.example.com/logout', { clientId: 'kf', idTokenHint: 'the.id.token' })
  t.equal(bare, 'https://idp.example.com/logout?id_token_hint=the.id.token&client_id=kf')
  const back = endSessionUrl('https://idp.example.com/logout?realm=kf', {
    clientId: 'kf',
    idTokenHint: 'the.id.token',
    postLogoutRedirectUri: 'https://kubeflow.example.com/signed-out',
  })
  t.equal(back, 'https://idp.example.com/logout?realm=kf&id_token_hint=the.id.token&client_id=kf&post_logout_redirect_uri=https%3A%2F%2Fkubeflow.example.com%2Fsigned-out')
})
