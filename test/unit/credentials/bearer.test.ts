/** Reading a bearer credential, and which source owns a bearer value. */
import t from 'tap'
import { bearerCredential, ownedBySessionHeader } from '../../../src/credentials/bearer.js'

t.test('Authorization: Bearer', async (t) => {
  const cases: [name: string, value: string | undefined, expected: string | undefined][] = [
    ['a bearer token is extracted', 'Bearer eyJ.a.b', 'eyJ.a.b'],
    ['the scheme is case-insensitive (RFC 7235)', 'bearer eyJ.a.b', 'eyJ.a.b'],
    ['an upper-case scheme is accepted', 'BEARER eyJ.a.b', 'eyJ.a.b'],
    ['surrounding spaces around the token are dropped', 'Bearer   eyJ.a.b  ', 'eyJ.a.b'],
    ['no header gives no token', undefined, undefined],
    ['another scheme gives no token', 'Basic YWxpY2U6c2VjcmV0', undefined],
    ['a scheme that only starts with bearer gives no token', 'Bearerx eyJ.a.b', undefined],
    ['the scheme must be followed by a space', 'Bearer\teyJ.a.b', undefined],
    ['the bare scheme gives no token', 'Bearer', undefined],
    ['the scheme and a space give no token', 'Bearer ', undefined],
    ['the scheme and only spaces give no token', 'Bearer     ', undefined],
    ['a short value gives no token', 'Bear', undefined],
    ['an empty value gives no token', '', undefined],
  ]
  for (const [name, value, expected] of cases) t.equal(bearerCredential(value), expected, name)
})

t.test('a value in the session header that is not a JWS belongs to the session-header source, and no JWT source tries it', async (t) => {
  const cases: [name: string, header: string, value: string | undefined, sessionHeader: string, owned: boolean][] = [
    ['a redis ticket as a bearer in the session header', 'authorization', 'Bearer dGlja2V0LXZhbHVlLW9mLTQzLWNoYXJhY3RlcnMtLS0tLS0tLS0', 'authorization', true],
    ['a sealed session (five parts) as a bare value', 'authorization', 'a.b.c.d.e', 'authorization', true],
    ['a JWS (three parts) is a JWT', 'authorization', 'Bearer eyJ.a.b', 'authorization', false],
    ['another header is not the session header', 'x-id-token', 'Bearer dGlja2V0', 'authorization', false],
    ['without a session header nothing is owned', 'authorization', 'Bearer dGlja2V0', '', false],
    ['no value owns nothing', 'authorization', undefined, 'authorization', false],
  ]
  for (const [name, header, value, sessionHeader, owned] of cases) t.equal(ownedBySessionHeader(header, value, sessionHeader), owned, name)
})
