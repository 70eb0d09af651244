/** Where a request carries a session: AUTH_HEADER (Bearer or bare, never a JWT) and the session cookie. */
import t from 'tap'
import { headerTicket, sessionTickets } from '../../../src/session/tickets.js'

const TICKET = 'qY3v8Xr0Lw2bN5kD7hT1sF4gJ6mP9cZ0aE2uR8oI3yW'
const SEALED = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiYWJjZGVmZ2gifQ..AAAAAAAAAAAAAAAA.Y2lwaGVydGV4dA.AAAAAAAAAAAAAAAAAAAAAA'
const JWT = 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl'
const CONFIG = { authHeader: 'authorization', sessionCookieName: 'authservice_session' }

t.test('a session value in AUTH_HEADER is read with or without "Bearer "', async (t) => {
  const cases: [name: string, value: string | undefined, ticket: string | undefined][] = [
    ['Bearer <redis ticket>', `Bearer ${TICKET}`, TICKET],
    ['the scheme is case-insensitive', `bEaReR ${TICKET}`, TICKET],
    ['a bare value (oidc-authservice clients)', TICKET, TICKET],
    ['surrounding spaces are ignored', `  Bearer   ${TICKET}  `, TICKET],
    ['a sealed cookie-store ticket (five JWE parts) is a session', `Bearer ${SEALED}`, SEALED],
    ['a JWT is a bearer token for the verifier, not a session', `Bearer ${JWT}`, undefined],
    ['a bare JWT is not a session either', JWT, undefined],
    ['a JWT without a signature is still JWT-shaped', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.', undefined],
    ['three parts outside the base64url alphabet are left to the verifier, which refuses them', 'a!.b?.c', undefined],
    ['four parts are not a JWS', 'a.b.c.d', 'a.b.c.d'],
    ['another scheme (Basic) is not a session', 'Basic YWxpY2U6c2VjcmV0', undefined],
    ['an empty header', '', undefined],
    ['only the scheme is no session', 'Bearer    ', undefined],
    ['the scheme alone, without a space, is no session', 'Bearer', undefined],
    ['no header', undefined, undefined],
  ]
  for (const [name, value, ticket] of cases) t.equal(headerTicket(value), ticket, name)
})

t.test('the header comes first, then the session cookie reassembled from its chunks', async (t) => {
  t.same(sessionTickets({ authorization: `Bearer ${TICKET}` }, { authservice_session: SEALED }, CONFIG), [
    { from: 'session-header', ticket: TICKET },
    { from: 'session-cookie', ticket: SEALED },
  ])
  t.same(sessionTickets({}, { 'authservice_session.1': 'abc', 'authservice_session.2': 'def' }, CONFIG), [{ from: 'session-cookie', ticket: 'abcdef' }])
})

t.test('the same ticket in the header and the cookie is looked up once', async (t) => {
  t.same(sessionTickets({ authorization: `Bearer ${TICKET}` }, { authservice_session: TICKET }, CONFIG), [{ from: 'session-header', ticket: TICKET }])
})

t.test('AUTH_HEADER and SESSION_COOKIE_NAME name where to look', async (t) => {
  const config = { authHeader: 'x-auth-token', sessionCookieName: 'kf_session' }
  t.same(sessionTickets({ authorization: `Bearer ${TICKET}`, 'x-auth-token': 'tk1' }, { authservice_session: 'x', kf_session: 'tk2' }, config), [
    { from: 'session-header', ticket: 'tk1' },
    { from: 'session-cookie', ticket: 'tk2' },
  ])
})

t.test('a request with only a JWT and no cookie carries no session', async (t) => {
  t.same(sessionTickets({ authorization: `Bearer ${JWT}` }, {}, CONFIG), [])
})
