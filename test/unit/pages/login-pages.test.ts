/** Pages of the login and logout flow: readable, self-contained, escaped, with a way forward. */
import t from 'tap'
import { afterLogoutBody, crossSiteSignOutBody, loginFailedBody } from '../../../src/pages/login-pages.js'

t.test('a failed sign-in shows the reason and a link to log in again', async (t) => {
  const page = loginFailedBody('This sign-in has expired or was started in another browser.')
  t.equal(page.contentType, 'text/html; charset=utf-8')
  t.match(page.body, '<title>Sign-in did not complete</title>')
  t.match(page.body, '<p>This sign-in has expired or was started in another browser.</p>')
  t.match(page.body, '<a id="login-again" href="/">Log in again</a>')
})

t.test('the identity provider\'s error text is escaped, never reflected as markup', async (t) => {
  const page = loginFailedBody('The identity provider refused the sign-in (<script>alert("x")</script>&\'onload=).')
  t.notMatch(page.body, '<script>alert')
  t.match(page.body, '(&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;onload=).')
  t.notMatch(page.body, /<script/i, 'no script element at all')
})

t.test('the after-logout page says so and offers to log in again', async (t) => {
  const page = afterLogoutBody()
  t.equal(page.contentType, 'text/html; charset=utf-8')
  t.match(page.body, '<title>Signed out</title>')
  t.match(page.body, 'You have signed out.')
  t.match(page.body, '<a id="login-again" href="/">Log in again</a>')
})

t.test('a refused cross-site sign-out explains why and links back to the site', async (t) => {
  const page = crossSiteSignOutBody()
  t.equal(page.contentType, 'text/html; charset=utf-8')
  t.match(page.body, '<title>Sign-out refused</title>')
  t.match(page.body, 'Sign-out must start from a page of this site.')
  t.match(page.body, '<a href="/">Continue</a>')
})

t.test('the pages load nothing from elsewhere (air-gapped clusters)', async (t) => {
  for (const page of [loginFailedBody('x'), afterLogoutBody(), crossSiteSignOutBody()]) {
    t.notMatch(page.body, /(src|href)="(https?:)?\/\//, 'no external resource')
  }
})
