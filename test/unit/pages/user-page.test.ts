/** The user's own page and oauth2-proxy's userinfo JSON: escaped, self-contained, the token only ever fetched by its script. */
import t from 'tap'
import { userInfoBody, userPageBody, userTokenBody, type UserView } from '../../../src/pages/user-page.js'
import { cspHash } from '../../../src/pages/html.js'

const HOSTILE = `<img src=x onerror=alert(1)>"'`
const ALICE: UserView = {
  user: 'alice@example.com',
  email: 'alice@example.com',
  preferredUsername: 'alice',
  groups: ['kubeflow-admins', 'team-a'],
  expiresAt: Date.UTC(2026, 11, 5, 8, 12, 30),
  prefix: '/oauth2/',
  apiToken: false,
}

t.test("userinfo JSON has oauth2-proxy's shape, absent values left out", async (t) => {
  t.same(JSON.parse(userInfoBody(ALICE).body), { user: 'alice@example.com', email: 'alice@example.com', groups: ['kubeflow-admins', 'team-a'], preferredUsername: 'alice' })
  t.same(JSON.parse(userInfoBody({ ...ALICE, email: undefined, preferredUsername: undefined, groups: [] }).body), { user: 'alice@example.com', groups: [] })
  t.equal(userInfoBody(ALICE).contentType, 'application/json; charset=utf-8')
})

t.test('the page shows who you are, your groups and when the session ends, with a Log out button', async (t) => {
  const { body, contentType } = userPageBody(ALICE)
  t.equal(contentType, 'text/html; charset=utf-8')
  t.match(body, /<dd id="user">alice@example.com<\/dd>/)
  t.match(body, /<dd id="email">alice@example.com<\/dd>/)
  t.match(body, /<dd id="preferred-username">alice<\/dd>/)
  t.match(body, /<dd><code>kubeflow-admins<\/code><\/dd><dd><code>team-a<\/code><\/dd>/)
  t.match(body, /<dd id="expires">2026-12-05 08:12 UTC<\/dd>/)
  t.match(body, /<button type="button" id="logout">Log out<\/button>/)
  t.match(body, /data-prefix="\/oauth2\/"/, 'the buttons post under the prefix')
  t.notMatch(body, /id="copy-token"/, 'no token button unless the operator allows it')
  const bare = userPageBody({ ...ALICE, email: undefined, preferredUsername: undefined, groups: [], expiresAt: undefined }).body
  t.notMatch(bare, /id="email"|id="preferred-username"|id="expires"/, 'what is unknown is left out')
  t.match(bare, /<dt>Groups<\/dt><dd>none<\/dd>/)
})

t.test('with USER_PAGE_API_TOKEN, the "Copy API token" button; the token itself is never in the markup', async (t) => {
  const { body } = userPageBody({ ...ALICE, apiToken: true })
  t.match(body, /<button type="button" id="copy-token">Copy API token<\/button>/)
  t.match(body, /<pre id="kfp-example" hidden><\/pre><pre id="curl-example" hidden><\/pre>/, 'the examples are filled in by the script')
})

t.test('everything from the token is escaped', async (t) => {
  const { body } = userPageBody({ ...ALICE, user: HOSTILE, email: HOSTILE, preferredUsername: HOSTILE, groups: [HOSTILE], prefix: `/${HOSTILE}/` })
  t.notMatch(body, /<img/, 'no markup from a claim')
  t.match(body, /&lt;img src=x onerror=alert\(1\)&gt;&quot;&#39;/)
})

t.test("the page's one script is allowed by its hash, nothing else; it loads nothing from elsewhere", async (t) => {
  const { body, contentSecurityPolicy } = userPageBody(ALICE)
  const scripts = [...body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((match) => match[1]!)
  t.equal(scripts.length, 1)
  t.equal(contentSecurityPolicy?.includes(`script-src ${cspHash(scripts[0]!)};`), true, 'script-src is exactly its hash')
  t.match(contentSecurityPolicy, /frame-ancestors 'none'/)
  t.notMatch(body, /\bsrc\s*=|\bhref\s*=\s*["']?(https?:)?\/\//, 'no script or link to anywhere')
  t.match(scripts[0], /'X-Requested-With'/, 'the token is asked for with a custom header')
})

t.test('the token answer: the token and its end, for the script', async (t) => {
  t.same(JSON.parse(userTokenBody('dex.id.token', 1_750_000_600_000).body), { token: 'dex.id.token', expiresAt: 1_750_000_600_000 })
})
