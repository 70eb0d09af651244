/** The ID-token claims a session keeps: what the identity headers and refresh need, nothing more. */
import t from 'tap'
import { claimsForSession } from '../../../src/session/claims.js'

const DEX_CLAIMS = {
  iss: 'http://dex.auth.svc.cluster.local:5556/dex',
  sub: 'CgVhbGljZRIFbG9jYWw',
  aud: 'kubeflow-oidc-authservice',
  exp: 1_750_086_400,
  iat: 1_750_000_000,
  nonce: 'n-0S6_WzA2Mj',
  at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
  c_hash: 'abc',
  email: 'alice@example.com',
  email_verified: true,
  name: 'Alice',
  preferred_username: 'alice',
  groups: ['team-a'],
  federated_claims: { connector_id: 'ldap', user_id: 'cn=alice' },
  department: 'research',
}

t.test('the standard identity claims are kept; nonce, hashes, audience and connector details are dropped', async (t) => {
  t.same(claimsForSession(DEX_CLAIMS), {
    iss: DEX_CLAIMS.iss,
    sub: DEX_CLAIMS.sub,
    iat: DEX_CLAIMS.iat,
    exp: DEX_CLAIMS.exp,
    email: 'alice@example.com',
    email_verified: true,
    name: 'Alice',
    preferred_username: 'alice',
    groups: ['team-a'],
  })
})

t.test('USERID_CLAIM and GROUPS_CLAIM are kept too when they are other claims', async (t) => {
  const kept = claimsForSession({ ...DEX_CLAIMS, roles: ['admin'] }, ['department', 'roles'])
  t.equal(kept.department, 'research')
  t.same(kept.roles, ['admin'])
  t.equal(kept.nonce, undefined)
})

t.test('absent claims are not invented', async (t) => {
  const kept = claimsForSession({ iss: 'https://idp', sub: 'u1' }, ['upn'])
  t.same(kept, { iss: 'https://idp', sub: 'u1' })
  t.notOk('upn' in kept)
  t.notOk('email' in kept)
})

t.test('falsy but present claims survive (email_verified: false must still refuse the user)', async (t) => {
  const kept = claimsForSession({ iss: 'https://idp', sub: 'u1', email_verified: false, groups: [], name: '' })
  t.same(kept, { iss: 'https://idp', sub: 'u1', email_verified: false, groups: [], name: '' })
})
