/** Deny bodies: JSON for API calls, self-contained escaped HTML for browsers. */
import t from 'tap'
import { forbiddenBody, unauthenticatedBody, unavailableBody, type DenyBody } from '../../../src/pages/deny-pages.js'

type Asserts = Pick<typeof t, 'equal' | 'match' | 'notMatch'>

const HOSTILE = `<script>alert(1)</script>"'&`
const HOSTILE_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;'
const JSON_TYPE = 'application/json; charset=utf-8'
const HTML_TYPE = 'text/html; charset=utf-8'

function assertSelfContainedPage(t: Asserts, body: DenyBody, name: string) {
  t.equal(body.contentType, HTML_TYPE, `${name}: HTML`)
  t.match(body.body, /^<!doctype html>/, `${name}: a full page`)
  t.notMatch(body.body, /<script/i, `${name}: no script element`)
  t.notMatch(body.body, /\b(src|href|action)\s*=\s*["']?\s*(https?:)?\/\//i, `${name}: nothing loaded from another origin`)
}

t.test('sign-in required', async (t) => {
  const cases: [name: string, rejected: boolean, message: string][] = [
    ['no credential', false, 'Authentication is required.'],
    ['a refused credential', true, 'The credential presented is not valid.'],
  ]
  for (const [name, rejected, message] of cases) {
    const api = unauthenticatedBody('api', rejected)
    t.equal(api.contentType, JSON_TYPE, `${name}: API calls get JSON`)
    t.same(JSON.parse(api.body), { error: 'unauthenticated', message }, `${name}: API body`)

    const page = unauthenticatedBody('navigation', rejected)
    assertSelfContainedPage(t, page, name)
    t.match(page.body, '<title>Sign-in required</title>', `${name}: title`)
    t.match(page.body, `<p>${message}</p>`, `${name}: message`)
    t.match(page.body, '<a href="/">', `${name}: a way back to the start page`)
  }
})

t.test('access denied', async (t) => {
  const cases: [name: string, reason: string, message: string][] = [
    ['group', 'GROUP_NOT_ALLOWED', 'None of your groups is allowed to use this service.'],
    ['email domain', 'EMAIL_DOMAIN_NOT_ALLOWED', 'Your email domain is not allowed to use this service.'],
  ]
  for (const [name, reason, message] of cases) {
    const api = forbiddenBody('api', 'alice@example.com', reason)
    t.equal(api.contentType, JSON_TYPE, `${name}: API calls get JSON`)
    t.same(JSON.parse(api.body), { error: 'forbidden', message, user: 'alice@example.com' }, `${name}: API body names the user`)

    const page = forbiddenBody('navigation', 'alice@example.com', reason)
    assertSelfContainedPage(t, page, name)
    t.match(page.body, '<title>Access denied</title>', `${name}: title`)
    t.match(page.body, 'Signed in as <code>alice@example.com</code>.', `${name}: names the user`)
    t.match(page.body, message, `${name}: says why`)
  }
})

t.test('a hostile user id on the access-denied page comes out escaped', async (t) => {
  const page = forbiddenBody('navigation', HOSTILE, 'GROUP_NOT_ALLOWED')
  assertSelfContainedPage(t, page, 'hostile user id')
  t.match(page.body, `<code>${HOSTILE_ESCAPED}</code>`)
  t.notMatch(page.body, '<script>alert(1)</script>')

  const api = forbiddenBody('api', HOSTILE, 'GROUP_NOT_ALLOWED')
  t.equal(JSON.parse(api.body).user, HOSTILE, 'the JSON body carries the user id intact and well-formed')
})

t.test('identity provider unavailable', async (t) => {
  const api = unavailableBody('api', 5)
  t.equal(api.contentType, JSON_TYPE)
  t.same(JSON.parse(api.body), {
    error: 'identity_provider_unavailable',
    message: 'The identity provider is unavailable. Try again shortly.',
    retryAfter: 5,
  })

  const page = unavailableBody('navigation', 5)
  assertSelfContainedPage(t, page, 'unavailable')
  t.match(page.body, '<title>Sign-in temporarily unavailable</title>')
  t.match(page.body, '<meta http-equiv="refresh" content="5"><title>', 'the page reloads itself')
  t.match(page.body, 'This page reloads in 5 seconds.')
})
