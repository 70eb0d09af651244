/** The identity header table: one row per header the upstream receives, read from the config once. */
import t from 'tap'
import { identityHeaderNames, identityHeaderTable } from '../../../src/identity/headers.js'
import type { Identity } from '../../../src/identity/identity.js'

const ALICE: Identity = { userId: 'alice@example.com', groups: ['team-a', 'team-b'], email: 'alice@example.com', idToken: 'dex.id.token' }
const KUBEFLOW = { userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', setAuthorizationHeader: false, setXAuthRequest: false }

/** oauth2-proxy's headers: rows in every mode, so a client-sent one never reaches the upstream. */
const X_AUTH_REQUEST = ['x-auth-request-user', 'x-auth-request-email', 'x-auth-request-groups', 'x-auth-request-preferred-username']

const values = (table: ReturnType<typeof identityHeaderTable>, identity: Identity) =>
  table.map((row) => [row.header, row.value(identity) ?? null, row.absent])

t.test('Kubeflow ≤ 1.8: the user id and the comma-joined groups, each removed from the client when absent', async (t) => {
  t.same(values(identityHeaderTable(KUBEFLOW), ALICE), [
    ['kubeflow-userid', 'alice@example.com', 'remove'],
    ['kubeflow-groups', 'team-a,team-b', 'remove'],
    ...X_AUTH_REQUEST.map((header) => [header, null, 'remove']),
  ])
  t.same(values(identityHeaderTable(KUBEFLOW), { ...ALICE, groups: [] })[1], ['kubeflow-groups', null, 'remove'], 'no groups: no empty header')
})

t.test("Kubeflow ≥ 1.9: Dex's ID token as authorization, left alone when the identity has none", async (t) => {
  const table = identityHeaderTable({ ...KUBEFLOW, setAuthorizationHeader: true })
  t.same(values(table, ALICE)[2], ['authorization', 'Bearer dex.id.token', 'keep'])
  t.same(values(table, { ...ALICE, idToken: undefined })[2], ['authorization', null, 'keep'], "another issuer's token is never forwarded as Dex's")
})

t.test('a request without an identity must not carry the identity headers upstream', async (t) => {
  t.same(identityHeaderNames(identityHeaderTable({ ...KUBEFLOW, setAuthorizationHeader: true })), ['kubeflow-userid', 'kubeflow-groups', ...X_AUTH_REQUEST])
  t.same(identityHeaderNames(identityHeaderTable({ ...KUBEFLOW, setXAuthRequest: true })), ['kubeflow-userid', 'kubeflow-groups', ...X_AUTH_REQUEST], 'whatever SET_XAUTHREQUEST says')
})

t.test("SET_XAUTHREQUEST: oauth2-proxy's headers, User being the user id of USERID_HEADER", async (t) => {
  const table = identityHeaderTable({ ...KUBEFLOW, userIdHeader: 'x-user', setXAuthRequest: true })
  const alice = { ...ALICE, userId: 'user-alice' }
  t.same(values(table, alice).slice(2), [
    ['x-auth-request-user', 'user-alice', 'remove'],
    ['x-auth-request-email', 'alice@example.com', 'remove'],
    ['x-auth-request-groups', 'team-a,team-b', 'remove'],
    ['x-auth-request-preferred-username', null, 'remove'],
  ])
  t.same(values(table, { ...alice, email: undefined, groups: [] }).slice(2).map(([, value]) => value), [ 'user-alice', null, null, null ], 'no email, no groups: removed')
  t.same(values(table, { ...alice, email: '' })[3], ['x-auth-request-email', null, 'remove'], 'an empty email is no email')
})

t.test('USERID_HEADER or GROUPS_HEADER naming an X-Auth-Request header keeps that row: one row per header', async (t) => {
  for (const setXAuthRequest of [false, true]) {
    const table = identityHeaderTable({ userIdHeader: 'x-auth-request-user', groupsHeader: 'x-auth-request-groups', setAuthorizationHeader: false, setXAuthRequest })
    t.same(values(table, ALICE), [
      ['x-auth-request-user', 'alice@example.com', 'remove'],
      ['x-auth-request-groups', 'team-a,team-b', 'remove'],
      ['x-auth-request-email', setXAuthRequest ? 'alice@example.com' : null, 'remove'],
      ['x-auth-request-preferred-username', null, 'remove'],
    ], `SET_XAUTHREQUEST=${setXAuthRequest}`)
  }
})
