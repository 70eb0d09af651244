// The demo's upstream app: shows the identity headers the gateway passed on, what the forwarded ID
// token says, and a logout button; everything escaped.
import t from 'tap'
import { appPage, decodeJwtPayload, startDemoApp } from '../../../dev/demo/app.js'

const OPTIONS = { userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', logoutPath: '/authservice/logout' }
const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`

t.test('decodeJwtPayload: the payload object of a compact JWS, else undefined', async (t) => {
  t.same(decodeJwtPayload(jwt({ email: 'a@b' })), { email: 'a@b' })
  t.equal(decodeJwtPayload('a.b'), undefined, 'not three parts')
  t.equal(decodeJwtPayload('a.!!!.c'), undefined, 'not JSON')
  t.equal(decodeJwtPayload(jwt([1])), undefined, 'an array')
  t.equal(decodeJwtPayload(jwt(null)), undefined, 'null')
  t.equal(decodeJwtPayload(jwt('text')), undefined, 'a string')
})

t.test('the page shows the user, the groups and the ID token’s claims', async (t) => {
  const token = jwt({ iss: 'http://127.0.0.1:5556/dex', aud: 'kubeflow-oidc-authservice', email: 'admin@example.com', groups: ['kubeflow-admins'], exp: 1_700_000_000, ignored: 'x' })
  const page = appPage(
    { 'kubeflow-userid': 'admin@example.com', 'kubeflow-groups': 'kubeflow-admins,team a', authorization: `Bearer ${token}` },
    OPTIONS,
    '/notebooks?x=1',
  )
  t.match(page, '<span id="user">admin@example.com</span>')
  t.match(page, 'data-groups="kubeflow-admins,team a"><code>kubeflow-admins</code> <code>team a</code>')
  t.match(page, 'id="bearer" data-present="true"')
  t.match(page, '<th>iss</th><td><code>&quot;http://127.0.0.1:5556/dex&quot;</code>')
  t.match(page, '<th>exp</th><td><code>1700000000 (2023-11-14T22:13:20.000Z)</code>')
  t.notMatch(page, 'ignored')
  t.match(page, '<code>/notebooks?x=1</code>')
  t.match(page, 'fetch("/authservice/logout", { method: \'POST\' })')
})

t.test('no identity, no bearer, a bearer that is no JWT, string exp; values escaped', async (t) => {
  const anonymous = appPage({}, OPTIONS, '/')
  t.match(anonymous, '<span id="user"></span>')
  t.match(anonymous, 'data-groups=""><em>none</em>')
  t.match(anonymous, 'id="bearer" data-present="false"')
  const opaque = appPage({ authorization: 'Bearer opaque-token', 'kubeflow-userid': ['a', 'b'] as unknown as string }, OPTIONS, '/')
  t.match(opaque, '(not a JWT)')
  t.match(opaque, '<span id="user">a, b</span>', 'repeated headers joined')
  t.match(appPage({ authorization: 'Basic x' }, OPTIONS, '/'), 'data-present="false"')
  t.match(appPage({ authorization: `Bearer ${jwt({ exp: 'soon' })}` }, OPTIONS, '/'), '<th>exp</th><td><code>&quot;soon&quot;</code>')
  const hostile = appPage({ 'kubeflow-userid': '<script>alert(1)</script>' }, OPTIONS, '/"><script>')
  t.notMatch(hostile, '<script>alert(1)</script>')
  t.match(hostile, '&lt;script&gt;alert(1)&lt;/script&gt;')
})

t.test('the server answers the page, and 204 for the favicon', async (t) => {
  const app = await startDemoApp({ ...OPTIONS, port: 0 })
  t.teardown(() => app.close())
  const response = await fetch(`http://127.0.0.1:${app.port}/x`, { headers: { 'kubeflow-userid': 'user@example.com' } })
  t.equal(response.status, 200)
  t.equal(response.headers.get('cache-control'), 'no-store')
  t.match(await response.text(), '<span id="user">user@example.com</span>')
  t.equal((await fetch(`http://127.0.0.1:${app.port}/favicon.ico`)).status, 204)
})
