/** The service's own endpoints, answered inside the check: callback, logout, sign_out, after_logout, start. */
import t from 'tap'
import { normalizePath } from '../../../src/check/path.js'
import { createEndpointMatcher } from '../../../src/check/endpoints.js'

const KUBEFLOW = { redirectUrl: '/authservice/oidc/callback', urlPrefix: '/authservice/' }

t.test('the Kubeflow defaults: callback, logout, sign_out, after_logout and start under /authservice/', async (t) => {
  const match = createEndpointMatcher(KUBEFLOW)
  const cases: [method: string, path: string, endpoint: string | undefined][] = [
    ['GET', '/authservice/oidc/callback', 'callback'],
    ['HEAD', '/authservice/oidc/callback', 'callback'],
    ['POST', '/authservice/logout', 'logout'],
    // The Kubeflow 1.9.0 dashboard POSTs its LOGOUT_URL (/oauth2/sign_out); later ones GET it.
    ['POST', '/authservice/sign_out', 'logout'],
    ['GET', '/authservice/sign_out', 'sign-out'],
    ['GET', '/authservice/logout', 'sign-out'],
    ['HEAD', '/authservice/sign_out', 'sign-out'],
    ['GET', '/authservice/site/after_logout', 'after-logout'],
    ['GET', '/authservice/start', 'start'],
    ['GET', '/authservice/me', 'user-page'],
    ['HEAD', '/authservice/me', 'user-page'],
    ['GET', '/authservice/userinfo', 'user-page'],
    ['POST', '/authservice/me/token', 'user-token'],
    ['GET', '/jupyter/', undefined],
    ['GET', '/authservice/', undefined],
    ['GET', '/authservice/site/themes/kubeflow/styles.css', undefined],
  ]
  for (const [method, path, endpoint] of cases) t.equal(match(method, normalizePath(path)), endpoint, `${method} ${path}`)
})

t.test('each endpoint answers only its methods; others fall through to the check', async (t) => {
  const match = createEndpointMatcher(KUBEFLOW)
  const cases: [method: string, path: string][] = [
    ['POST', '/authservice/oidc/callback'],
    ['DELETE', '/authservice/logout'],
    ['PUT', '/authservice/sign_out'],
    ['PUT', '/authservice/site/after_logout'],
    ['POST', '/authservice/start'],
    ['POST', '/authservice/me'],
    ['GET', '/authservice/me/token'],
    ['DELETE', '/authservice/userinfo'],
    ['get', '/authservice/oidc/callback'],
  ]
  for (const [method, path] of cases) t.equal(match(method, normalizePath(path)), undefined, `${method} ${path}`)
})

t.test('paths are compared exactly after normalisation; ambiguous paths never match', async (t) => {
  const match = createEndpointMatcher(KUBEFLOW)
  t.equal(match('GET', normalizePath('/authservice/x/../oidc/callback')), 'callback', 'dot segments are resolved')
  t.equal(match('GET', normalizePath('/authservice/oidc/callback/')), undefined, 'a trailing slash is another path')
  t.equal(match('GET', normalizePath('/AUTHSERVICE/oidc/callback')), undefined, 'case-sensitive')
  t.equal(match('GET', normalizePath('/authservice/oidc%2Fcallback')), undefined, 'an encoded slash is ambiguous')
  t.equal(match('GET', normalizePath('/authservice//sign_out')), undefined, 'an empty segment is ambiguous')
  t.equal(match('POST', normalizePath('/authservice/..;/authservice/logout')), undefined, 'a servlet ..; segment is ambiguous')
})

t.test('the callback is wherever REDIRECT_URL points, relative or absolute, ignoring its query', async (t) => {
  const relative = createEndpointMatcher({ redirectUrl: '/login/oidc?from=kubeflow', urlPrefix: '/authservice/' })
  t.equal(relative('GET', normalizePath('/login/oidc')), 'callback')
  t.equal(relative('GET', normalizePath('/authservice/oidc/callback')), undefined, 'the default path is no longer the callback')
  const absolute = createEndpointMatcher({ redirectUrl: 'https://kubeflow.example.com/authservice/oidc/callback', urlPrefix: '/authservice/' })
  t.equal(absolute('GET', normalizePath('/authservice/oidc/callback')), 'callback')
})

t.test('an absolute AUTHSERVICE_URL_PREFIX places the endpoints under its path', async (t) => {
  const match = createEndpointMatcher({ redirectUrl: 'https://kubeflow.example.com/auth/oidc/callback', urlPrefix: 'https://kubeflow.example.com/auth/' })
  t.equal(match('POST', normalizePath('/auth/logout')), 'logout')
  t.equal(match('GET', normalizePath('/auth/sign_out')), 'sign-out')
  t.equal(match('GET', normalizePath('/auth/site/after_logout')), 'after-logout')
  t.equal(match('POST', normalizePath('/authservice/logout')), undefined)
})

t.test("the user page under the >= 1.9 prefix: /oauth2/userinfo is oauth2-proxy's path", async (t) => {
  const match = createEndpointMatcher({ redirectUrl: '/oauth2/callback', urlPrefix: '/oauth2/' })
  t.equal(match('GET', normalizePath('/oauth2/userinfo')), 'user-page')
  t.equal(match('GET', normalizePath('/oauth2/me')), 'user-page')
  t.equal(match('POST', normalizePath('/oauth2/me/token')), 'user-token')
  t.equal(match('GET', normalizePath('/authservice/me')), undefined, 'only under the configured prefix')
})
