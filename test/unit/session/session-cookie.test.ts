/** The session cookie on the wire: one cookie when the ticket fits, numbered chunks when it does not, stale chunks cleared. */
import t from 'tap'
import { MAX_COOKIE_VALUE, parseCookies } from '../../../src/session/cookies.js'
import { clearSessionCookies, readSessionTicket, writeSessionCookies } from '../../../src/session/session-cookie.js'

const CONFIG = {
  sessionCookieName: 'authservice_session',
  sessionCookieHttpOnly: true,
  sessionSameSite: 'Lax',
  secureCookies: 'auto',
} as const
const HTTPS = { scheme: 'https' }
const HTTP = { scheme: 'http' }

/** A ticket of `length` base64url-ish characters whose chunks differ from each other. */
const ticketOf = (length: number) => Array.from({ length }, (_, i) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[i % 61]).join('')

/** What a browser holds after applying `setCookies` to `present`. */
function browserAfter(present: Record<string, string | undefined>, setCookies: readonly string[]): Record<string, string | undefined> {
  const jar: Record<string, string | undefined> = { ...present }
  for (const header of setCookies) {
    const pair = header.slice(0, header.indexOf(';'))
    const name = pair.slice(0, pair.indexOf('='))
    if (/; Max-Age=0(;|$)/.test(header)) delete jar[name]
    else jar[name] = parseCookies(pair)[name]
  }
  return jar
}

const names = (setCookies: readonly string[]) => setCookies.map((header) => header.slice(0, header.indexOf('=')))
const cleared = (setCookies: readonly string[]) => setCookies.filter((header) => header.includes('Max-Age=0')).map((header) => header.slice(0, header.indexOf('=')))

t.test('a ticket that fits is one cookie with the session attributes', async (t) => {
  const headers = writeSessionCookies(CONFIG, 'short-ticket', 86400, HTTPS, {})
  t.same(headers, ['authservice_session=short-ticket; Max-Age=86400; Path=/; HttpOnly; Secure; SameSite=Lax'])
  t.equal(readSessionTicket(browserAfter({}, headers), 'authservice_session'), 'short-ticket')
})

t.test('SESSION_COOKIE_NAME, SESSION_SAME_SITE, SESSION_COOKIE_HTTPONLY and the scheme shape the cookie', async (t) => {
  const headers = writeSessionCookies({ sessionCookieName: 'kf_session', sessionCookieHttpOnly: false, sessionSameSite: 'Strict', secureCookies: 'auto' }, 'tk', 60, HTTP, {})
  t.same(headers, ['kf_session=tk; Max-Age=60; Path=/; SameSite=Strict'])
})

t.test('a ticket of exactly 3800 characters is still one cookie; one more splits it in two', async (t) => {
  t.same(names(writeSessionCookies(CONFIG, ticketOf(MAX_COOKIE_VALUE), 60, HTTP, {})), ['authservice_session'])
  const split = writeSessionCookies(CONFIG, ticketOf(MAX_COOKIE_VALUE + 1), 60, HTTP, {})
  t.same(names(split), ['authservice_session.1', 'authservice_session.2'])
  t.match(split[1], /^authservice_session\.2=[A-Za-z0-9_-]; Max-Age=60; Path=\/; HttpOnly; SameSite=Lax$/, 'the last chunk holds the rest, with the same attributes')
})

t.test('a long ticket (cookie store, many groups) is written in numbered chunks that read back whole', async (t) => {
  for (const length of [MAX_COOKIE_VALUE + 1, 2 * MAX_COOKIE_VALUE, 3 * MAX_COOKIE_VALUE + 17, 8 * MAX_COOKIE_VALUE]) {
    const ticket = ticketOf(length)
    const headers = writeSessionCookies(CONFIG, ticket, 60, HTTPS, {})
    const count = Math.ceil(length / MAX_COOKIE_VALUE)
    t.same(names(headers), Array.from({ length: count }, (_, i) => `authservice_session.${i + 1}`), `${length}: ${count} chunks`)
    for (const header of headers) t.ok(header.length < 4096, `${length}: each Set-Cookie fits a browser's 4096 bytes`)
    t.equal(readSessionTicket(browserAfter({}, headers), 'authservice_session'), ticket, `${length}: reassembled in order`)
  }
})

t.test('switching from chunks to one cookie clears every old chunk', async (t) => {
  const present = { 'authservice_session.1': 'a', 'authservice_session.2': 'b', 'authservice_session.3': 'c' }
  const headers = writeSessionCookies(CONFIG, 'new-short-ticket', 60, HTTP, present)
  t.same(cleared(headers), ['authservice_session.1', 'authservice_session.2', 'authservice_session.3'])
  t.equal(readSessionTicket(browserAfter(present, headers), 'authservice_session'), 'new-short-ticket')
})

t.test('switching from one cookie to chunks clears the single cookie, which would otherwise win', async (t) => {
  const present = { authservice_session: 'old-short-ticket' }
  const ticket = ticketOf(2 * MAX_COOKIE_VALUE + 5)
  const headers = writeSessionCookies(CONFIG, ticket, 60, HTTP, present)
  t.same(cleared(headers), ['authservice_session'])
  t.equal(readSessionTicket(browserAfter(present, headers), 'authservice_session'), ticket)
})

t.test('a shorter ticket in fewer chunks clears the stale chunks left from a longer one', async (t) => {
  const present = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`authservice_session.${i + 1}`, `old${i}`]))
  const ticket = ticketOf(2 * MAX_COOKIE_VALUE)
  const headers = writeSessionCookies(CONFIG, ticket, 60, HTTP, present)
  t.same(cleared(headers), ['authservice_session.3', 'authservice_session.4', 'authservice_session.5'])
  t.equal(readSessionTicket(browserAfter(present, headers), 'authservice_session'), ticket, 'no stale chunk is appended')
})

t.test('reading: the single cookie wins, chunks are joined in order and stop at the first gap', async (t) => {
  t.equal(readSessionTicket({ authservice_session: 'whole', 'authservice_session.1': 'x' }, 'authservice_session'), 'whole')
  t.equal(readSessionTicket({ 'authservice_session.2': 'b', 'authservice_session.1': 'a' }, 'authservice_session'), 'ab', 'by number, not by header order')
  t.equal(readSessionTicket({ 'authservice_session.1': 'a', 'authservice_session.3': 'c' }, 'authservice_session'), 'a', 'a missing chunk ends the ticket')
  t.equal(readSessionTicket({ 'authservice_session.2': 'b' }, 'authservice_session'), undefined, 'chunks without the first are no ticket')
  t.equal(readSessionTicket({ authservice_session: '' }, 'authservice_session'), undefined, 'an empty cookie is no ticket')
  t.equal(readSessionTicket({ other: 'x' }, 'authservice_session'), undefined)
  t.equal(readSessionTicket({ 'authservice_session.1': '' }, 'authservice_session'), undefined, 'empty chunks are no ticket')
})

t.test('reading joins at most 8 chunks, so a hostile request cannot make it join megabytes', async (t) => {
  const cookies = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`authservice_session.${i + 1}`, String(i % 10)]))
  t.equal(readSessionTicket(cookies, 'authservice_session'), '01234567')
})

t.test('a ticket longer than 8 chunks is refused instead of written as chunks the reader ignores', async (t) => {
  const ticket = ticketOf(8 * MAX_COOKIE_VALUE + 1)
  t.throws(() => writeSessionCookies(CONFIG, ticket, 60, HTTP, {}), { code: 'ERR_SESSION_TOO_LARGE' })
  t.equal(names(writeSessionCookies(CONFIG, ticketOf(8 * MAX_COOKIE_VALUE), 60, HTTP, {})).length, 8, 'eight chunks still fit')
})

t.test('clearing always clears the main cookie and every chunk present, with Secure as configured', async (t) => {
  t.same(clearSessionCookies(CONFIG, HTTP, {}), ['authservice_session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'])
  const present = { 'authservice_session.1': 'a', 'authservice_session.2': 'b', 'authservice_session.8': 'h', 'authservice_session.9': 'i', other: 'x' }
  const headers = clearSessionCookies(CONFIG, HTTPS, present)
  t.same(names(headers), ['authservice_session', 'authservice_session.1', 'authservice_session.2', 'authservice_session.8'])
  t.ok(headers.every((header) => header.includes('Max-Age=0') && header.includes('; Secure')), 'every clear expires the cookie, Secure over https')
  t.equal(readSessionTicket(browserAfter(present, headers), 'authservice_session'), undefined, 'no session left in the browser')
})
