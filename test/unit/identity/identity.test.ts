/** Verified claims → the identity sent upstream, as oidc-authservice derived it. */
import t from 'tap'
import type { JWTPayload } from 'jose'
import type { UserIdTransformer } from '../../../src/config/types.js'
import { TokenRejectedError } from '../../../src/errors.js'
import { identityFromClaims, transformUserId, type IdentityRules } from '../../../src/identity/identity.js'

const KUBEFLOW: IdentityRules = { userIdClaim: 'email', userIdPrefix: '', userIdTransformers: [], groupsClaim: 'groups', requireEmailVerified: true }
const DEX = { primary: true, token: 'dex.id.token' }
const SECOND = 'https://second.example.com'
const EXTRA = { primary: false, token: 'second.issuer.token', issuer: SECOND }

/** As config/parse.ts compiles a rule: global flag, `(?i)` becomes `i`. */
const rule = (matches: string, replaces: string, flags = 'g'): UserIdTransformer => ({ matches: new RegExp(matches, flags), replaces })

const alice: JWTPayload = { sub: 'CiQwOGE4Njg0Yi1kYjg4', email: 'alice@example.com', email_verified: true, groups: ['team-a', 'team-b'] }

t.test('a Dex user is identified by email, with groups and the ID token for forwarding', async (t) => {
  t.same(identityFromClaims(alice, KUBEFLOW, DEX), {
    userId: 'alice@example.com',
    groups: ['team-a', 'team-b'],
    email: 'alice@example.com',
    idToken: 'dex.id.token',
  })
})

t.test("the user page's facts: preferred_username, and when the token ends (the ID token's end only for Dex's)", async (t) => {
  const dex = identityFromClaims({ ...alice, preferred_username: 'alice', exp: 1_750_000_600 }, KUBEFLOW, DEX)
  t.match(dex, { preferredUsername: 'alice', expiresAt: 1_750_000_600_000, idTokenExpiresAt: 1_750_000_600_000 })
  const robot = identityFromClaims({ sub: 'robot-7', exp: 1_750_000_600, preferred_username: 7 }, KUBEFLOW, EXTRA)
  t.equal(robot.expiresAt, 1_750_000_600_000, "another issuer's token ends at its exp")
  t.notOk('idTokenExpiresAt' in robot, 'but it is no ID token to hand out')
  t.notOk('preferredUsername' in robot, 'a preferred_username that is not a string is left out')
})

t.test('USERID_CLAIM picks the claim used as user id', async (t) => {
  const identity = identityFromClaims({ ...alice, preferred_username: 'alice' }, { ...KUBEFLOW, userIdClaim: 'preferred_username' }, DEX)
  t.equal(identity.userId, 'alice')
  t.equal(identity.email, 'alice@example.com', 'the email is still known for ALLOWED_EMAIL_DOMAINS')
})

t.test('USERID_PREFIX is put before the transformed user id', async (t) => {
  const rules = { ...KUBEFLOW, userIdPrefix: 'oidc:', userIdTransformers: [rule('^oidc:', 'x:'), rule('@example\\.com$', '')] }
  t.equal(identityFromClaims(alice, rules, DEX).userId, 'oidc:alice', 'the prefix itself is not transformed')
})

t.test('USERID_TRANSFORMERS', async (t) => {
  const cases: [name: string, userId: string, rules: UserIdTransformer[], expected: string][] = [
    ['no rules leave the user id unchanged', 'alice@example.com', [], 'alice@example.com'],
    ['a matching rule rewrites the user id', 'alice@example.com', [rule('@example\\.com$', '')], 'alice'],
    ['$1 expands to the first capture group', 'alice@example.com', [rule('^(.*)@example\\.com$', '$1@corp.example')], 'alice@corp.example'],
    [
      'USERID_TRANSFORMERS applies only the first matching rule',
      'alice@example.com',
      [rule('^nomatch$', 'x'), rule('^(.*)@example\\.com$', '$1'), rule('^alice$', 'bob')],
      'alice',
    ],
    ['a rule that does not match leaves the user id unchanged', 'alice@example.com', [rule('@corp\\.example$', '')], 'alice@example.com'],
    ['every occurrence is replaced (Go ReplaceAllString)', 'a.b.c@example.com', [rule('\\.', '_')], 'a_b_c@example_com'],
    ['a (?i) rule matches regardless of case', 'Alice@EXAMPLE.com', [rule('@example\\.com$', '', 'gi')], 'Alice'],
    ['without (?i) case matters', 'Alice@EXAMPLE.com', [rule('@example\\.com$', '')], 'Alice@EXAMPLE.com'],
  ]
  for (const [name, userId, rules, expected] of cases) {
    t.equal(transformUserId(userId, rules), expected, name)
    t.equal(identityFromClaims({ ...alice, email: userId }, { ...KUBEFLOW, userIdTransformers: rules }, DEX).userId, expected, `${name} (via claims)`)
  }
})

t.test('a transformer rule gives the same answer on every request (global regexps keep no state)', async (t) => {
  const rules = [rule('@example\\.com$', '')]
  const results = ['alice@example.com', 'bob@example.com', 'alice@example.com', 'carol@example.com'].map((id) => transformUserId(id, rules))
  t.same(results, ['alice', 'bob', 'alice', 'carol'])
})

t.test('a token without a usable user id claim is rejected', async (t) => {
  const cases: [name: string, claims: JWTPayload][] = [
    ['missing', { sub: 'x', groups: [] }],
    ['empty', { sub: 'x', email: '' }],
    ['not a string', { sub: 'x', email: ['alice@example.com'] }],
  ]
  for (const [name, claims] of cases) {
    t.throws(
      () => identityFromClaims(claims, KUBEFLOW, DEX),
      { constructor: TokenRejectedError, code: 'ERR_IDENTITY_CLAIM_MISSING', claim: 'email' },
      `Dex token with the claim ${name}`,
    )
  }
  t.throws(
    () => identityFromClaims({ sub: 'x', name: 'Alice' }, { ...KUBEFLOW, userIdClaim: 'preferred_username' }, DEX),
    { code: 'ERR_IDENTITY_CLAIM_MISSING', claim: 'preferred_username' },
    'the error names the configured USERID_CLAIM',
  )
  t.throws(
    () => identityFromClaims({ sub: 123 as unknown as string }, KUBEFLOW, EXTRA),
    { code: 'ERR_IDENTITY_CLAIM_MISSING', claim: 'sub' },
    'an extra-issuer token without a string sub (its default user-id claim)',
  )
})

t.test('REQUIRE_EMAIL_VERIFIED: only email_verified: true (the JSON boolean) lets an email be the user id', async (t) => {
  // Issue 15, finding 7: "False" passed, since only false and "false" were refused.
  const cases: [name: string, verified: unknown][] = [
    ['email_verified false', false],
    ['email_verified "false" (string, some providers)', 'false'],
    ['email_verified "False"', 'False'],
    ['email_verified "FALSE"', 'FALSE'],
    ['email_verified "true" (a string is not the boolean)', 'true'],
    ['email_verified 1', 1],
    ['email_verified null', null],
    ['email_verified absent', undefined],
  ]
  for (const [name, verified] of cases) {
    const claims: JWTPayload = { ...alice, email_verified: verified }
    t.throws(() => identityFromClaims(claims, KUBEFLOW, DEX), { constructor: TokenRejectedError, code: 'ERR_TOKEN_EMAIL_UNVERIFIED', claim: 'email_verified' }, name)
    t.equal(identityFromClaims(claims, { ...KUBEFLOW, requireEmailVerified: false }, DEX).userId, 'alice@example.com', `${name}: accepted with REQUIRE_EMAIL_VERIFIED=false`)
  }
  t.equal(identityFromClaims({ ...alice, email_verified: true }, KUBEFLOW, DEX).userId, 'alice@example.com', 'email_verified true')
  const emailRule = { ...KUBEFLOW, extraIssuers: [{ issuer: SECOND, rules: { useridClaim: 'email', emailDomains: 'apply' as const } }] }
  t.throws(() => identityFromClaims({ sub: 'robot', email: 'robot@example.com' }, emailRule, EXTRA), { code: 'ERR_TOKEN_EMAIL_UNVERIFIED' }, 'an extra issuer\'s email is held to the same rule')
  const byName = identityFromClaims({ ...alice, email_verified: false, name: 'Alice' }, { ...KUBEFLOW, userIdClaim: 'name' }, DEX)
  t.equal(byName.userId, 'Alice', 'email_verified does not matter when the user id is not the email')
  const bySub = identityFromClaims({ sub: 'robot', email: 'robot@example.com', email_verified: false }, KUBEFLOW, EXTRA)
  t.equal(bySub.userId, 'robot', 'nor when an extra issuer\'s user id is its sub')
})

t.test('EXTRA_JWT_ISSUER_RULES: an extra issuer\'s user id is its sub unless its rule names another claim', async (t) => {
  // Issue 15, finding 6: the second issuer's `email` became kubeflow-userid, so it could assert an admin's.
  const admin: JWTPayload = { iss: SECOND, sub: 'robot-7', email: 'admin@example.com', email_verified: true, groups: ['robots'] }
  t.same(identityFromClaims(admin, KUBEFLOW, EXTRA), {
    userId: 'robot-7',
    groups: ['robots'],
    email: 'admin@example.com',
    idToken: undefined,
  }, 'by default: the sub, never the email it asserts (USERID_CLAIM is the primary issuer\'s), no ID token to forward')
  t.same(identityFromClaims(admin, { ...KUBEFLOW, extraIssuers: [] }, EXTRA).userId, 'robot-7', 'an issuer without a rule gets the defaults')
  const rules = (useridClaim: string, emailDomains: 'apply' | 'skip') => ({
    ...KUBEFLOW,
    extraIssuers: [{ issuer: 'https://other.example', rules: { useridClaim: 'email', emailDomains: 'skip' as const } }, { issuer: SECOND, rules: { useridClaim, emailDomains } }],
  })
  t.equal(identityFromClaims(admin, rules('email', 'apply'), EXTRA).userId, 'admin@example.com', 'useridClaim: email, when the operator trusts the issuer with emails')
  t.equal(identityFromClaims({ ...admin, repository: 'org/repo' }, rules('repository', 'apply'), EXTRA).userId, 'org/repo', 'any claim')
  t.throws(() => identityFromClaims(admin, rules('repository', 'apply'), EXTRA), { code: 'ERR_IDENTITY_CLAIM_MISSING', claim: 'repository' }, 'no claim stands in for a missing one (not even sub)')
  t.equal(identityFromClaims(admin, rules('sub', 'apply'), EXTRA).emailDomains, undefined, 'emailDomains apply: the identity says nothing, so ALLOWED_EMAIL_DOMAINS governs it')
  t.equal(identityFromClaims(admin, rules('sub', 'skip'), EXTRA).emailDomains, 'skip', 'emailDomains skip: said on the identity')
  t.equal(identityFromClaims(alice, rules('sub', 'skip'), DEX).emailDomains, undefined, 'a Dex identity never skips')
  t.equal(identityFromClaims(admin, { ...KUBEFLOW, userIdPrefix: 'ci:' }, EXTRA).userId, 'ci:robot-7', 'USERID_PREFIX and the transformers apply as to Dex')
})

t.test('only the Kubernetes source speaks for service accounts', async (t) => {
  // Issue 15, finding 9: through an extra issuer a service-account token was checked offline only, no lifetime cap.
  const bound: JWTPayload = {
    iss: SECOND,
    sub: 'system:serviceaccount:kubeflow-user:default-editor',
    'kubernetes.io': { namespace: 'kubeflow-user', serviceaccount: { name: 'default-editor', uid: 'u' } },
  }
  t.throws(() => identityFromClaims(bound, KUBEFLOW, EXTRA), { constructor: TokenRejectedError, code: 'ERR_IDENTITY_SERVICE_ACCOUNT', claim: 'kubernetes.io' }, 'a token carrying the kubernetes.io claim')
  const emailRule = { ...KUBEFLOW, extraIssuers: [{ issuer: SECOND, rules: { useridClaim: 'email', emailDomains: 'skip' as const } }] }
  t.throws(() => identityFromClaims({ ...bound, email: 'a@example.com', email_verified: true }, emailRule, EXTRA), { code: 'ERR_IDENTITY_SERVICE_ACCOUNT' }, 'whatever claim its rule picks')
  t.throws(() => identityFromClaims({ sub: 'system:serviceaccount:ns:sa' }, KUBEFLOW, EXTRA), { code: 'ERR_IDENTITY_SERVICE_ACCOUNT', claim: 'sub' }, 'a user id Kubernetes RBAC would read as a service account')
  t.throws(() => identityFromClaims({ sub: 'x', email: 'system:serviceaccount:ns:sa', email_verified: true }, KUBEFLOW, DEX), { code: 'ERR_IDENTITY_SERVICE_ACCOUNT', claim: 'email' }, 'from Dex too')
  const transformed = { ...KUBEFLOW, userIdTransformers: [rule('^robot@example\\.com$', 'system:serviceaccount:ns:robot')] }
  t.throws(() => identityFromClaims({ sub: 'x', email: 'robot@example.com', email_verified: true }, transformed, DEX), { code: 'ERR_IDENTITY_SERVICE_ACCOUNT' }, 'the user id is checked as the upstream would see it')
  t.equal(identityFromClaims({ sub: 'system:serviceaccount:ns:sa' }, { ...KUBEFLOW, userIdPrefix: 'ci:' }, EXTRA).userId, 'ci:system:serviceaccount:ns:sa', 'behind a prefix it names no service account')
  t.same(identityFromClaims({ sub: 'robot' }, KUBEFLOW, EXTRA).groups, [], 'and no service-account groups are made up from a sub')
})

t.test('groups', async (t) => {
  const cases: [name: string, claims: JWTPayload, rules: IdentityRules, expected: string[]][] = [
    ['no groups claim gives no groups', { email: 'a@example.com', sub: 'x' }, KUBEFLOW, []],
    ['non-string entries are dropped', { email: 'a@example.com', groups: ['a', 1, null, { b: 1 }, 'c'] }, KUBEFLOW, ['a', 'c']],
    ['a single string is not a list of groups', { email: 'a@example.com', groups: 'admins' }, KUBEFLOW, []],
    ['GROUPS_CLAIM names the claim', { email: 'a@example.com', groups: ['x'], roles: ['admin'] }, { ...KUBEFLOW, groupsClaim: 'roles' }, ['admin']],
  ]
  for (const [name, claims, rules, expected] of cases) {
    t.same(identityFromClaims({ email_verified: true, ...claims }, rules, DEX).groups, expected, name)
  }
})

t.test('the email is kept lower-case for domain checks; a non-string email is ignored', async (t) => {
  t.equal(identityFromClaims({ ...alice, email: 'Alice@Example.COM' }, KUBEFLOW, DEX).email, 'alice@example.com')
  t.equal(identityFromClaims({ ...alice, email: 'Alice@Example.COM' }, KUBEFLOW, DEX).userId, 'Alice@Example.COM', 'the user id keeps its case')
  t.equal(identityFromClaims({ sub: 'alice', email: 42 }, { ...KUBEFLOW, userIdClaim: 'sub' }, DEX).email, undefined)
})
