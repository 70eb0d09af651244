/** The pure decision: skip, allow, 403 by policy, login (navigation) or 401 (API) without a usable credential, or unavailable. */
import t from 'tap'
import type { AuthServiceErrorCode } from '../../../src/errors.js'
import {
  decide,
  type CheckFacts,
  type CredentialOutcome,
  type Decision,
  type Policy,
  type RequestKind,
} from '../../../src/check/decision.js'
import type { Identity } from '../../../src/identity/identity.js'

const OPEN: Policy = { groupsAllowlist: ['*'], allowedEmailDomains: [] }

function identity(overrides: Partial<Identity> = {}): Identity {
  return { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token', ...overrides }
}

function facts(credential: CredentialOutcome, overrides: Partial<CheckFacts> = {}): CheckFacts {
  return { skip: false, kind: 'navigation', credential, providerReady: true, ...overrides }
}

const valid = (id: Identity = identity(), via = 'authorization'): CredentialOutcome => ({ status: 'valid', identity: id, via })
const rejected = (...codes: AuthServiceErrorCode[]): CredentialOutcome => ({ status: 'rejected', codes })

t.test('skip paths are answered without looking at credentials or the provider', async (t) => {
  const credentials: CredentialOutcome[] = [
    { status: 'none' },
    rejected('ERR_TOKEN_EXPIRED'),
    { status: 'unavailable' },
    { status: 'unavailable', what: 'session-store' },
    valid(identity({ groups: [] })),
  ]
  for (const credential of credentials) {
    for (const providerReady of [true, false]) {
      const decision = decide(facts(credential, { skip: true, providerReady }), { groupsAllowlist: ['admins'], allowedEmailDomains: ['corp.example'] })
      t.same(decision, { outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' }, `credential ${credential.status}, provider ready ${providerReady}`)
    }
  }
})

t.test('a valid credential is allowed with its identity and the source it came from', async (t) => {
  const id = identity()
  t.same(decide(facts(valid(id, 'id-token-cookie')), OPEN), {
    outcome: 'allow',
    kind: 'navigation',
    reason: 'CREDENTIAL_VALID',
    identity: id,
    via: 'id-token-cookie',
  })
})

t.test('GROUPS_ALLOWLIST', async (t) => {
  const cases: [name: string, allowlist: string[], groups: string[], outcome: Decision['outcome']][] = [
    ['* allows a user with no groups at all', ['*'], [], 'allow'],
    ['* among other entries still allows everyone', ['admins', '*'], ['nobody'], 'allow'],
    ['a user in an allowlisted group is allowed', ['admins', 'team-a'], ['team-b', 'team-a'], 'allow'],
    ['a user outside GROUPS_ALLOWLIST is refused with 403', ['admins'], ['team-a', 'team-b'], 'forbidden'],
    ['a user with no groups is refused when the allowlist names groups', ['admins'], [], 'forbidden'],
    ['group names compare exactly (case-sensitive)', ['admins'], ['Admins'], 'forbidden'],
    ['group names are not prefixes', ['admins'], ['admins-readonly'], 'forbidden'],
    ['an empty allowlist allows nobody', [], ['team-a'], 'forbidden'],
  ]
  for (const [name, groupsAllowlist, groups, outcome] of cases) {
    const decision = decide(facts(valid(identity({ groups }))), { groupsAllowlist, allowedEmailDomains: [] })
    t.equal(decision.outcome, outcome, name)
    if (decision.outcome === 'forbidden') t.equal(decision.reason, 'GROUP_NOT_ALLOWED', `${name}: reason`)
  }
})

t.test('ALLOWED_EMAIL_DOMAINS', async (t) => {
  const cases: [name: string, domains: string[], email: string | undefined, outcome: Decision['outcome']][] = [
    ['an empty list allows any domain', [], 'bob@anywhere.example', 'allow'],
    ['a user of an allowed domain is allowed', ['corp.example', 'example.com'], 'alice@example.com', 'allow'],
    ['a user of another domain is refused with 403', ['corp.example'], 'alice@example.com', 'forbidden'],
    ['a subdomain of an allowed domain is not allowed', ['example.com'], 'alice@mail.example.com', 'forbidden'],
    ['a lookalike ending is not allowed', ['example.com'], 'alice@evilexample.com', 'forbidden'],
    ['the domain is what follows the last @', ['example.com'], 'example.com@evil.example', 'forbidden'],
    ['the last @ decides even with several', ['example.com'], 'a@evil.example@example.com', 'allow'],
    ['an email with an empty domain is refused', ['example.com'], 'alice@', 'forbidden'],
    // Issue 15, finding 6: an identity without an email passed the list unchecked (a second issuer's user).
    ['an identity without an email has no domain to allow: 403', ['example.com'], undefined, 'forbidden'],
    ['an identity without an email, no list: allowed', [], undefined, 'allow'],
  ]
  for (const [name, allowedEmailDomains, email, outcome] of cases) {
    const decision = decide(facts(valid(identity({ email }))), { groupsAllowlist: ['*'], allowedEmailDomains })
    t.equal(decision.outcome, outcome, name)
    if (decision.outcome === 'forbidden') t.equal(decision.reason, 'EMAIL_DOMAIN_NOT_ALLOWED', `${name}: reason`)
  }
})

t.test('identities that say emailDomains: skip (service accounts, extra issuers so configured) get the groups policy only', async (t) => {
  const account = identity({ userId: 'system:serviceaccount:kubeflow-user:default-editor', groups: ['system:serviceaccounts'], email: undefined, idToken: undefined, emailDomains: 'skip' })
  const domains = ['example.com']
  t.equal(decide(facts(valid(account)), { groupsAllowlist: ['*'], allowedEmailDomains: domains }).outcome, 'allow', 'no email, ALLOWED_EMAIL_DOMAINS set: allowed')
  t.equal(decide(facts(valid({ ...account, email: 'robot@other.example' })), { groupsAllowlist: ['*'], allowedEmailDomains: domains }).outcome, 'allow', 'an email of another domain does not matter either')
  t.match(decide(facts(valid(account)), { groupsAllowlist: ['admins'], allowedEmailDomains: domains }), { outcome: 'forbidden', reason: 'GROUP_NOT_ALLOWED' }, 'GROUPS_ALLOWLIST still applies')
  t.equal(decide(facts(valid(account)), { groupsAllowlist: ['system:serviceaccounts'], allowedEmailDomains: domains }).outcome, 'allow', 'and lets a listed group in')
})

t.test('an email without @ has no domain and is refused by ALLOWED_EMAIL_DOMAINS', async (t) => {
  const decision = decide(facts(valid(identity({ email: 'example.com' }))), { groupsAllowlist: ['*'], allowedEmailDomains: ['example.com'] })
  t.match(decision, { outcome: 'forbidden', reason: 'EMAIL_DOMAIN_NOT_ALLOWED' })
})

t.test('a refused user keeps their identity in the decision, and the group rule is reported first', async (t) => {
  const id = identity({ groups: ['team-a'], email: 'alice@other.example' })
  t.same(decide(facts(valid(id), { kind: 'api' }), { groupsAllowlist: ['admins'], allowedEmailDomains: ['example.com'] }), {
    outcome: 'forbidden',
    kind: 'api',
    reason: 'GROUP_NOT_ALLOWED',
    identity: id,
  })
})

t.test('a valid credential is honoured even while the primary provider is not ready', async (t) => {
  // A service-account token still verifies when Dex is down.
  const id = identity({ userId: 'system:serviceaccount:kubeflow:pipeline-runner', email: undefined, idToken: undefined, emailDomains: 'skip' })
  const decision = decide(facts(valid(id), { providerReady: false }), OPEN)
  t.equal(decision.outcome, 'allow')
})

type WithoutKind<D> = D extends unknown ? Omit<D, 'kind'> : never

t.test('without a valid credential, an API call is answered 401 and never sent to a login page', async (t) => {
  const cases: [name: string, credential: CredentialOutcome, expected: WithoutKind<Decision>][] = [
    ['no credential is 401 NO_CREDENTIAL', { status: 'none' }, { outcome: 'unauthenticated', reason: 'NO_CREDENTIAL', codes: [] }],
    [
      'a rejected credential is 401 CREDENTIAL_REJECTED with the codes',
      rejected('ERR_TOKEN_EXPIRED', 'ERR_TOKEN_SIGNATURE_INVALID'),
      { outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED', 'ERR_TOKEN_SIGNATURE_INVALID'] },
    ],
    ['an ended session is 401 CREDENTIAL_REJECTED', rejected('ERR_REFRESH_REJECTED'), { outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_REFRESH_REJECTED'] }],
  ]
  for (const [name, credential, expected] of cases) {
    t.same(decide(facts(credential, { kind: 'api' }), OPEN), { ...expected, kind: 'api' }, name)
  }
})

t.test('without a valid credential, a browser navigation is sent to the login, with the refused codes', async (t) => {
  const cases: [name: string, credential: CredentialOutcome, codes: AuthServiceErrorCode[]][] = [
    ['no credential starts the login', { status: 'none' }, []],
    ['a refused credential starts the login and keeps its codes for the log', rejected('ERR_TOKEN_EXPIRED', 'ERR_TOKEN_SIGNATURE_INVALID'), ['ERR_TOKEN_EXPIRED', 'ERR_TOKEN_SIGNATURE_INVALID']],
    ['an ended session starts the login', rejected('ERR_REFRESH_REJECTED'), ['ERR_REFRESH_REJECTED']],
  ]
  for (const [name, credential, codes] of cases) {
    t.same(decide(facts(credential, { kind: 'navigation' }), OPEN), { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes }, name)
  }
})

t.test('an unusable identity provider or session store is "unavailable" (retry), never a login or a 401 for bad credentials', async (t) => {
  const cases: [name: string, credential: CredentialOutcome, providerReady: boolean, expected: WithoutKind<Decision>][] = [
    ['keys that cannot be fetched make the provider unavailable', { status: 'unavailable' }, true, { outcome: 'unavailable', reason: 'PROVIDER_UNAVAILABLE' }],
    ['an unavailable provider named as such is PROVIDER_UNAVAILABLE', { status: 'unavailable', what: 'provider' }, true, { outcome: 'unavailable', reason: 'PROVIDER_UNAVAILABLE' }],
    ['no credential while the provider is not ready is unavailable', { status: 'none' }, false, { outcome: 'unavailable', reason: 'PROVIDER_UNAVAILABLE' }],
    ['a rejected credential while the provider is not ready is unavailable', rejected('ERR_TOKEN_UNKNOWN_KEY'), false, { outcome: 'unavailable', reason: 'PROVIDER_UNAVAILABLE' }],
    ['a session store that cannot be reached is SESSION_STORE_UNAVAILABLE', { status: 'unavailable', what: 'session-store' }, true, { outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' }],
    [
      'a session store outage is reported as such even while the provider is not ready',
      { status: 'unavailable', what: 'session-store' },
      false,
      { outcome: 'unavailable', reason: 'SESSION_STORE_UNAVAILABLE' },
    ],
  ]
  for (const [name, credential, providerReady, expected] of cases) {
    for (const kind of ['api', 'navigation'] as RequestKind[]) {
      t.same(decide(facts(credential, { providerReady, kind }), OPEN), { ...expected, kind }, `${name} (${kind})`)
    }
  }
})
