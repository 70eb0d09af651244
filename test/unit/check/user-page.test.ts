/** The user page's answers once the check allowed, and what its token endpoint refuses before any credential is looked at. */
import t from 'tap'
import { createUserPage, isUserPageEndpoint } from '../../../src/check/user-page.js'
import type { Identity } from '../../../src/identity/identity.js'

const ALICE: Identity = {
  userId: 'alice@example.com',
  groups: ['team-a'],
  email: 'alice@example.com',
  idToken: 'dex.id.token',
  preferredUsername: 'alice',
  expiresAt: 2_000,
  idTokenExpiresAt: 1_000,
}
const SAME_ORIGIN = { 'x-requested-with': 'authservice', 'sec-fetch-site': 'same-origin' }
const ON = { urlPrefix: '/oauth2/', userPageApiToken: true }

t.test('only me, userinfo and me/token are the user page', async (t) => {
  t.equal(isUserPageEndpoint('user-page'), true)
  t.equal(isUserPageEndpoint('user-token'), true)
  t.equal(isUserPageEndpoint('logout'), false)
  t.equal(isUserPageEndpoint(undefined), false)
})

t.test('the token endpoint: 404 when USER_PAGE_API_TOKEN is off, 403 unless asked by a page of this site with the custom header', async (t) => {
  const off = createUserPage({ ...ON, userPageApiToken: false })
  t.match(off.gate('user-token', SAME_ORIGIN), { outcome: 'user-page-refused', reason: 'TOKEN_DISABLED', userPage: { kind: 'no-token' } })
  const on = createUserPage(ON)
  t.equal(on.gate('user-token', SAME_ORIGIN), undefined, 'a page of this site with the header goes on to the check')
  t.equal(on.gate('user-token', { 'x-requested-with': 'x', origin: 'https://kubeflow.example.com', host: 'kubeflow.example.com' }), undefined, 'Origin = Host')
  const refused: Array<[string, Record<string, string>]> = [
    ['no custom header (a form post)', { 'sec-fetch-site': 'same-origin' }],
    ['another site', { 'x-requested-with': 'x', 'sec-fetch-site': 'cross-site' }],
    ['another origin', { 'x-requested-with': 'x', origin: 'https://evil.example', host: 'kubeflow.example.com' }],
    ['no origin at all', { 'x-requested-with': 'x' }],
  ]
  for (const [name, headers] of refused) t.match(on.gate('user-token', headers), { reason: 'CROSS_ORIGIN', userPage: { kind: 'cross-origin' } }, name)
  t.equal(off.gate('user-page', {}), undefined, 'the page itself is always there')
})

t.test('an allowed request: the page for a browser, JSON otherwise, the token with its end', async (t) => {
  const page = createUserPage(ON)
  t.match(page.answer('user-page', ALICE, { accept: 'text/html,application/xhtml+xml' }, ['c=1']), {
    outcome: 'user-page',
    reason: 'USER_INFO',
    user: 'alice@example.com',
    userPage: { kind: 'user-info', format: 'html', view: { user: 'alice@example.com', email: 'alice@example.com', preferredUsername: 'alice', groups: ['team-a'], expiresAt: 2_000, prefix: '/oauth2/', apiToken: true } },
    cookies: ['c=1'],
  })
  for (const accept of ['application/json', '*/*', undefined]) {
    t.match(page.answer('user-page', ALICE, accept === undefined ? {} : { accept }, []), { userPage: { format: 'json' } }, `Accept: ${accept}`)
  }
  t.match(page.answer('user-token', ALICE, SAME_ORIGIN, []), { reason: 'USER_TOKEN', userPage: { kind: 'user-token', token: 'dex.id.token', expiresAt: 1_000 } })
  t.match(page.answer('user-token', { ...ALICE, idToken: undefined }, SAME_ORIGIN, []), { outcome: 'user-page-refused', reason: 'NO_ID_TOKEN', userPage: { kind: 'no-token' } }, "another issuer's token is no ID token to hand out")
})

t.test('the prefix may be an absolute URL: its path', async (t) => {
  t.match(createUserPage({ urlPrefix: 'https://kubeflow.example.com/authservice/', userPageApiToken: false }).answer('user-page', ALICE, {}, []), { userPage: { view: { prefix: '/authservice/', apiToken: false } } })
})
