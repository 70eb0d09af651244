/**
 * What a claim may carry into an identity header (src/identity/header-values.ts): any Unicode name,
 * no control character (ERR_CLAIM_HEADER_UNSAFE, a refusal), no `,` in a group (set aside,
 * ERR_GROUP_NAME_INVALID) — for identities of tokens and sessions (identityFromClaims) and of
 * Kubernetes service accounts alike.
 */
import t from 'tap'
import { decide } from '../../../src/check/decision.js'
import { TokenRejectedError } from '../../../src/errors.js'
import { headerSafeIdentity } from '../../../src/identity/header-values.js'
import { identityFromClaims, type IdentityRules } from '../../../src/identity/identity.js'

const KUBEFLOW: IdentityRules = { userIdClaim: 'email', userIdPrefix: '', userIdTransformers: [], groupsClaim: 'groups', requireEmailVerified: true }
const DEX = { primary: true, token: 'dex.id.token' }
const claims = (overrides: Record<string, unknown>) => ({ sub: 'CiQwOGE4', email: 'alice@example.com', email_verified: true, groups: ['team-a'], ...overrides })

/** Every C0 control character and DEL. */
const CONTROLS = [...Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)), '\u007f']

t.test('names inside and outside Latin-1 are kept as they are (each transport sends their UTF-8 octets)', async (t) => {
  const identity = identityFromClaims(claims({ email: 'josé@example.com', groups: ['开发组', 'équipe-a', 'ß-team'] }), KUBEFLOW, DEX)
  t.same(identity, { userId: 'josé@example.com', groups: ['开发组', 'équipe-a', 'ß-team'], email: 'josé@example.com', idToken: 'dex.id.token' }, 'nothing set aside, no codes')
})

t.test('a C0 control character or DEL in the user id, a group or the email refuses the credential, naming the claim', async (t) => {
  for (const control of CONTROLS) {
    const shown = `U+${control.charCodeAt(0).toString(16).padStart(4, '0')}`
    t.throws(() => identityFromClaims(claims({ email: `eve${control}@example.com` }), KUBEFLOW, DEX), { constructor: TokenRejectedError, code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'email' }, `${shown} in the user id`)
    t.throws(() => identityFromClaims(claims({ groups: ['team-a', `team${control}`] }), KUBEFLOW, DEX), { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'groups' }, `${shown} in a group`)
    t.throws(
      () => identityFromClaims(claims({ preferred_username: 'eve', email: `eve${control}@example.com` }), { ...KUBEFLOW, userIdClaim: 'preferred_username' }, DEX),
      { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'email' },
      `${shown} in the email (x-auth-request-email) when the user id is another claim`,
    )
  }
  t.throws(() => identityFromClaims(claims({ preferred_username: 'eve\r\nx: y' }), { ...KUBEFLOW, userIdClaim: 'preferred_username' }, DEX), { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'preferred_username' }, 'the user id claim is named')
  t.throws(() => identityFromClaims({ sub: 'robot-a\u0000b' }, KUBEFLOW, { primary: false, token: 'x' }), { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'sub' }, 'an extra issuer\'s sub used as the user id is named')
  t.throws(() => headerSafeIdentity({ userId: 'system:serviceaccount:ns:sa', groups: ['g\n'], email: undefined }), { code: 'ERR_CLAIM_HEADER_UNSAFE' }, 'a TokenReview\'s groups too')
  t.throws(() => identityFromClaims(claims({ email: 'eve\ud800@example.com' }), KUBEFLOW, DEX), { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'email' }, 'a lone surrogate (a JSON \\ud800 escape) has no UTF-8 octets')
  t.throws(() => identityFromClaims(claims({ groups: ['\udc00team'] }), KUBEFLOW, DEX), { code: 'ERR_CLAIM_HEADER_UNSAFE', claim: 'groups' }, 'a lone low surrogate too')
  t.equal(identityFromClaims(claims({ groups: ['team-😀'] }), KUBEFLOW, DEX).groups[0], 'team-😀', 'a surrogate pair is a character like any other')
})

t.test('a group containing "," is set aside with ERR_GROUP_NAME_INVALID, the others kept in order', async (t) => {
  const identity = identityFromClaims(claims({ groups: ['开发组', 'kubeflow-admins,system:masters', 'team-a', ','] }), KUBEFLOW, DEX)
  t.same(identity.groups, ['开发组', 'team-a'])
  t.same(identity.codes, ['ERR_GROUP_NAME_INVALID'], 'once, however many were set aside')
  t.same(headerSafeIdentity({ userId: 'u', groups: ['a,b'], email: undefined }).groups, [], 'no group left: no kubeflow-groups header')
})

t.test('a group set aside never matches GROUPS_ALLOWLIST', async (t) => {
  const identity = identityFromClaims(claims({ groups: ['kubeflow-admins,team-b'] }), KUBEFLOW, DEX)
  const facts = { skip: false, kind: 'api' as const, credential: { status: 'valid' as const, identity, via: 'authorization' }, providerReady: true }
  for (const allowlist of [['kubeflow-admins'], ['team-b'], ['kubeflow-admins', 'team-b']]) {
    t.match(decide(facts, { groupsAllowlist: allowlist, allowedEmailDomains: [] }), { outcome: 'forbidden', reason: 'GROUP_NOT_ALLOWED' }, `GROUPS_ALLOWLIST=${allowlist.join(',')}`)
  }
})
