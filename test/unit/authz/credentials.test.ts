/** Where a check request carries a JWT: Authorization bearer, ID_TOKEN_HEADER, ID_TOKEN_COOKIE. */
import t from 'tap'
import { bearerCandidates, bearerCredential, readCookie, type CredentialSources } from '../../../src/authz/credentials.js'

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

t.test('reading one cookie', async (t) => {
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
  for (const [name, header, expected] of cases) t.equal(readCookie(header, 'id_token'), expected, name)
})

t.test('credential candidates, in the order they are tried', async (t) => {
  const kubeflow: CredentialSources = { idTokenHeader: 'authorization', idTokenCookie: undefined }
  const all: CredentialSources = { idTokenHeader: 'x-id-token', idTokenCookie: 'id_token' }
  type Headers = Record<string, string | undefined>
  const cases: [name: string, headers: Headers, sources: CredentialSources, expected: ReturnType<typeof bearerCandidates>][] = [
    ['no credentials give no candidates', {}, all, []],
    ['with the default ID_TOKEN_HEADER the Authorization header is tried once', { authorization: 'Bearer A' }, kubeflow, [{ from: 'authorization', token: 'A' }]],
    ['a non-bearer Authorization header is not a candidate', { authorization: 'Basic YWxpY2U6eA==' }, kubeflow, []],
    [
      'Authorization, then ID_TOKEN_HEADER, then ID_TOKEN_COOKIE',
      { authorization: 'Bearer A', 'x-id-token': 'Bearer H', cookie: 'session=s; id_token=C' },
      all,
      [
        { from: 'authorization', token: 'A' },
        { from: 'id-token-header', token: 'H' },
        { from: 'id-token-cookie', token: 'C' },
      ],
    ],
    [
      "an application's own Authorization header does not hide the ID token cookie",
      { authorization: 'Basic YWxpY2U6eA==', cookie: 'id_token=C' },
      all,
      [{ from: 'id-token-cookie', token: 'C' }],
    ],
    ['ID_TOKEN_HEADER may carry the bare token', { 'x-id-token': '  H  ' }, all, [{ from: 'id-token-header', token: 'H' }]],
    ['ID_TOKEN_HEADER may carry a bearer token', { 'x-id-token': 'bearer H' }, all, [{ from: 'id-token-header', token: 'H' }]],
    ['an empty ID_TOKEN_HEADER is not a candidate', { 'x-id-token': '   ' }, all, []],
    ['an empty ID token cookie is not a candidate', { cookie: 'id_token=' }, all, []],
    ['the ID token cookie is ignored when ID_TOKEN_COOKIE is unset', { cookie: 'id_token=C' }, kubeflow, []],
    ['another cookie is not a candidate', { cookie: 'authservice_session=S' }, all, []],
  ]
  for (const [name, headers, sources, expected] of cases) t.same(bearerCandidates(headers, sources), expected, name)
})
