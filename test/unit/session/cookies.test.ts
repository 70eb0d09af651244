/** Set-Cookie values for the session and login-flow cookies: Secure per SECURE_COOKIES, attributes, clearing. */
import t from 'tap'
import { clearCookie, isSecure, MAX_COOKIE_VALUE, parseCookies, setCookie, type CookieAttributes } from '../../../src/session/cookies.js'

t.test('SECURE_COOKIES decides the Secure attribute', async (t) => {
  const cases: [name: string, secureCookies: 'auto' | 'true' | 'false', scheme: string | undefined, secure: boolean][] = [
    ['auto: a request that came over https gets Secure cookies', 'auto', 'https', true],
    ['auto: a plain-http request (in-cluster, port-forward) gets cookies without Secure', 'auto', 'http', false],
    ['auto: an unknown scheme is not https', 'auto', undefined, false],
    ['auto: only the exact scheme "https" counts', 'auto', 'HTTPS://', false],
    ['true: Secure even over http (TLS terminated in front of Envoy)', 'true', 'http', true],
    ['true: Secure without a scheme', 'true', undefined, true],
    ['false: never Secure, even over https', 'false', 'https', false],
  ]
  for (const [name, secureCookies, scheme, secure] of cases) t.equal(isSecure({ secureCookies }, { scheme }), secure, name)
})

t.test('the Cookie header is read into name → value, first occurrence winning', async (t) => {
  t.same({ ...parseCookies('a=1; authservice_session=abc; a=2') }, { a: '1', authservice_session: 'abc' })
  t.same({ ...parseCookies(undefined) }, {}, 'no Cookie header: no cookies')
  t.same({ ...parseCookies('') }, {}, 'an empty header: no cookies')
  t.equal(parseCookies('x=%20y').x, ' y', 'values are percent-decoded')
})

t.test('a cookie carries Path=/, Max-Age and the configured HttpOnly, SameSite and Secure', async (t) => {
  const attributes: CookieAttributes = { maxAgeSeconds: 86400, httpOnly: true, sameSite: 'Lax', secure: true }
  t.equal(setCookie('authservice_session', 'ticket', attributes), 'authservice_session=ticket; Max-Age=86400; Path=/; HttpOnly; Secure; SameSite=Lax')
  t.equal(
    setCookie('authservice_session', 'ticket', { maxAgeSeconds: 60, httpOnly: false, sameSite: 'None', secure: false }),
    'authservice_session=ticket; Max-Age=60; Path=/; SameSite=None',
    'HttpOnly and Secure are left out when off',
  )
  t.match(setCookie('s', 'v', { ...attributes, sameSite: 'Strict' }), /; SameSite=Strict$/)
})

t.test('a cookie value is encoded so it cannot add attributes or cookies', async (t) => {
  const header = setCookie('s', 'v; Domain=evil.example', { maxAgeSeconds: 1, httpOnly: true, sameSite: 'Lax', secure: false })
  t.notMatch(header, '; Domain=', 'the ; is percent-encoded')
  t.equal(parseCookies(header.split(';')[0]).s, 'v; Domain=evil.example', 'and decodes back to the value')
})

t.test('clearing a cookie expires it at once on the same path', async (t) => {
  t.equal(clearCookie('authservice_session', false), 'authservice_session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax')
  t.match(clearCookie('authservice_session', true), /; Secure;/, 'Secure when the cookie was Secure (browsers ignore a non-Secure clear of a Secure cookie)')
})

t.test('a cookie value is kept under 3800 characters so name, value and attributes fit 4096 bytes', async (t) => {
  t.equal(MAX_COOKIE_VALUE, 3800)
  const header = setCookie('authservice_session.1', 'x'.repeat(MAX_COOKIE_VALUE), { maxAgeSeconds: 86400, httpOnly: true, sameSite: 'None', secure: true })
  t.ok(header.length < 4096, `${header.length} bytes`)
})

t.test('one cookie among others, as every credential source reads it', async (t) => {
  const cases: [name: string, header: string | undefined, expected: string | undefined][] = [
    ['the named cookie is found among others', 'a=1; id_token=eyJ.a.b; b=2', 'eyJ.a.b'],
    ['the first cookie of the header is found', 'id_token=eyJ.a.b;a=1', 'eyJ.a.b'],
    ['spaces around name and value are ignored', ' a=1 ;  id_token = eyJ.a.b ', 'eyJ.a.b'],
    ['a quoted value is unquoted (RFC 6265)', 'id_token="eyJ.a.b"', 'eyJ.a.b'],
    ['an empty quoted value is empty', 'id_token=""', ''],
    ['a lone quote is kept as it is', 'id_token="', '"'],
    ['= inside the value is kept', 'id_token=abc==; a=1', 'abc=='],
    ['the first of two same-named cookies wins', 'id_token=first; id_token=second', 'first'],
    ['names are case-sensitive', 'ID_TOKEN=eyJ.a.b', undefined],
    ['a cookie whose name only ends with the name does not count', 'xid_token=eyJ.a.b', undefined],
    ['a cookie whose name only starts with the name does not count', 'id_token2=eyJ.a.b', undefined],
    ['a pair without = is skipped', 'id_token; a=1', undefined],
    ['no cookie header gives nothing', undefined, undefined],
  ]
  for (const [name, header, expected] of cases) t.equal(parseCookies(header).id_token, expected, name)
})

t.test('percent-encoded cookie values are decoded, and a broken encoding is kept as sent', async (t) => {
  t.equal(parseCookies('next=%2Fjupyter%2F').next, '/jupyter/')
  t.equal(parseCookies('odd=%E0%A4%A').odd, '%E0%A4%A')
})
