/** The identity header table: one row per header the upstream receives, read from the config once. */
import t from 'tap'
import { identityHeaderNames, identityHeaderTable } from '../../../src/identity/headers.js'
import type { Identity } from '../../../src/identity/identity.js'

const ALICE: Identity = { userId: 'alice@example.com', groups: ['team-a', 'team-b'], email: 'alice@example.com', idToken: 'dex.id.token' }
const KUBEFLOW = { userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', setAuthorizationHeader: false }

const values = (table: ReturnType<typeof identityHeaderTable>, identity: Identity) =>
  table.map((row) => [row.header, row.value(identity) ?? null, row.absent])

t.test('Kubeflow ≤ 1.8: the user id and the comma-joined groups, each removed from the client when absent', async (t) => {
  t.same(values(identityHeaderTable(KUBEFLOW), ALICE), [
    ['kubeflow-userid', 'alice@example.com', 'remove'],
    ['kubeflow-groups', 'team-a,team-b', 'remove'],
  ])
  t.same(values(identityHeaderTable(KUBEFLOW), { ...ALICE, groups: [] })[1], ['kubeflow-groups', null, 'remove'], 'no groups: no empty header')
})

t.test("Kubeflow ≥ 1.9: Dex's ID token as authorization, left alone when the identity has none", async (t) => {
  const table = identityHeaderTable({ ...KUBEFLOW, setAuthorizationHeader: true })
  t.same(values(table, ALICE)[2], ['authorization', 'Bearer dex.id.token', 'keep'])
  t.same(values(table, { ...ALICE, idToken: undefined })[2], ['authorization', null, 'keep'], "another issuer's token is never forwarded as Dex's")
})

t.test('a request without an identity must not carry the identity headers upstream', async (t) => {
  t.same(identityHeaderNames(identityHeaderTable({ ...KUBEFLOW, setAuthorizationHeader: true })), ['kubeflow-userid', 'kubeflow-groups'])
})
