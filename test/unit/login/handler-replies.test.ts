/**
 * The replies every login handler builds: a deny (a 200 would let Envoy forward the request
 * upstream) that is never cached and never leaks the URL as a referrer, with the cookies to set.
 */
import t from 'tap'
import { pageReply, redirect, withQuery } from '../../../src/login/handler-replies.js'

t.test('a redirect is an empty 302 to the location, no-store and no-referrer, then one set-cookie per cookie', async (t) => {
  t.strictSame(redirect('/jupyter/?ns=x', ['a=1; Path=/', 'b=; Max-Age=0; Path=/']), {
    kind: 'deny',
    status: 302,
    headers: [
      ['location', '/jupyter/?ns=x'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=; Max-Age=0; Path=/'],
    ],
    body: '',
  })
  t.strictSame(redirect('https://idp.example.com/logout', []), {
    kind: 'deny',
    status: 302,
    headers: [
      ['location', 'https://idp.example.com/logout'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
    ],
    body: '',
  }, 'no cookies, no set-cookie')
})

t.test('a page carries its status, content type and body, no-store and no-referrer, then extra headers, then cookies', async (t) => {
  const json = { contentType: 'application/json; charset=utf-8', body: '{"afterLogoutURL":"/"}' }
  t.strictSame(pageReply(401, json, ['s=; Max-Age=0; Path=/'], [['retry-after', '5']]), {
    kind: 'deny',
    status: 401,
    headers: [
      ['content-type', 'application/json; charset=utf-8'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
      ['retry-after', '5'],
      ['set-cookie', 's=; Max-Age=0; Path=/'],
    ],
    body: '{"afterLogoutURL":"/"}',
  })
  t.strictSame(pageReply(403, { contentType: 'text/html; charset=utf-8', body: '<p>no</p>' }), {
    kind: 'deny',
    status: 403,
    headers: [
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'no-store'],
      ['referrer-policy', 'no-referrer'],
    ],
    body: '<p>no</p>',
  }, 'without cookies or extra headers')
})

t.test('query parameters are appended with ? or, after an existing query, with &, form-encoded in order', async (t) => {
  t.equal(withQuery('/dex/auth', { state: 'a b', next: '/x?y=1' }), '/dex/auth?state=a+b&next=%2Fx%3Fy%3D1')
  t.equal(withQuery('https://idp.example.com/auth?tenant=kf', { client_id: 'kf' }), 'https://idp.example.com/auth?tenant=kf&client_id=kf')
})
