/**
 * The credential sources as the check runs them: which source finds which credential, in which
 * order, and what each establishes — an identity, a refusal with its code, or "unavailable".
 */
import t from 'tap'
import type { JWTPayload } from 'jose'
import type { Config } from '../../../src/config/types.js'
import type { CarryingRequest } from '../../../src/credentials/ports.js'
import { createCredentialSources } from '../../../src/credentials/sources.js'
import { ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { TokenVerifier } from '../../../src/oidc/token-verifier.js'
import { parseCookies } from '../../../src/session/cookies.js'
import type { SessionAuthenticator, SessionOutcome } from '../../../src/session/session-auth.js'
import type { Session } from '../../../src/session/session.js'
import { kubeflowConfig } from '../../fixtures/config.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const ALICE: JWTPayload = { iss: ISSUER, sub: 'CgVhbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] }

interface Carried {
  readonly from: string
  readonly token: string
}

const verifier: TokenVerifier = {
  async check(token) {
    if (token === 'alice.jwt') return { token, issuer: ISSUER, primary: true, claims: ALICE, expiresAtMs: 0 }
    if (token === 'ci.jwt') return { token, issuer: 'https://ci.example.com', primary: false, claims: { iss: 'https://ci.example.com', sub: 'robot-7', email: 'admin@example.com', email_verified: true }, expiresAtMs: 0 }
    if (token === 'no-keys.jwt') throw new ProviderUnavailableError()
    if (token === 'bug.jwt') throw new TypeError('a bug')
    // A verifier that throws its refusal instead of returning it (verifyToken's way).
    if (token === 'thrown-refusal.jwt') throw new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')
    return new TokenRejectedError('ERR_TOKEN_EXPIRED', 'token expired', { claim: 'exp' })
  },
}

const request = (headers: Record<string, string | undefined>): CarryingRequest => ({ headers, cookies: parseCookies(headers.cookie) })

/** What each source finds in a request, in the order the check tries them (JWT sources only). */
function carried(headers: Record<string, string | undefined>, overrides: Partial<Config>): Carried[] {
  const sources = createCredentialSources(kubeflowConfig(overrides), { verifier })
  return sources.flatMap((source) => {
    const token = source.carried(request(headers))
    return token === undefined ? [] : [{ from: source.name, token }]
  })
}

t.test('credential candidates, in the order they are tried', async (t) => {
  const kubeflow: Partial<Config> = { idTokenHeader: 'authorization', idTokenCookie: undefined }
  const all: Partial<Config> = { idTokenHeader: 'x-id-token', idTokenCookie: 'id_token' }
  type Headers = Record<string, string | undefined>
  const cases: [name: string, headers: Headers, sources: Partial<Config>, expected: Carried[]][] = [
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
  for (const [name, headers, sources, expected] of cases) t.same(carried(headers, sources), expected, name)
})

const SESSION: Session = {
  id: 'id',
  claims: { iss: ISSUER, sub: 'CgVhbGljZQ', email: 'alice@example.com', email_verified: true, groups: ['team-a'] },
  idToken: 'dex.id.token',
  refreshToken: undefined,
  idTokenExpiresAt: 0,
  createdAt: 0,
  expiresAt: 1,
}

/** A session authenticator that answers from a table and records the options it was given. */
function sessionsFrom(table: Record<string, SessionOutcome>) {
  const calls: Array<[ticket: string, dryRun: boolean | undefined]> = []
  const sessions: SessionAuthenticator = async (ticket, run = {}) => {
    calls.push([ticket, run.dryRun])
    return table[ticket] ?? { status: 'none' }
  }
  return { sessions, calls }
}

t.test('with sessions, AUTH_HEADER and the session cookie come last, and a session ticket is never tried as a JWT', async (t) => {
  const { sessions } = sessionsFrom({})
  const sources = createCredentialSources(kubeflowConfig({ idTokenCookie: 'id_token' }), { verifier, sessions })
  t.same(sources.map((source) => source.name), ['authorization', 'id-token-cookie', 'session-header', 'session-cookie'])
  const found = (headers: Record<string, string>) =>
    sources.flatMap((source) => {
      const token = source.carried(request(headers))
      return token === undefined ? [] : [[source.name, token]]
    })
  t.same(found({ authorization: 'Bearer eyJ.a.b' }), [['authorization', 'eyJ.a.b']], 'a JWS is a JWT')
  t.same(found({ authorization: 'Bearer redis-ticket' }), [['session-header', 'redis-ticket']], 'any other value is a session ticket')
  t.same(found({ cookie: 'authservice_session=tk' }), [['session-cookie', 'tk']])
  t.same(found({ authorization: 'Bearer tk', cookie: 'authservice_session=tk' }), [['session-header', 'tk']], 'the same ticket in header and cookie is tried once')
})

t.test('a JWT source establishes who the token stands for, or why it is refused', async (t) => {
  const unexpected: unknown[] = []
  const [bearer] = createCredentialSources(kubeflowConfig(), { verifier, onUnexpectedError: (error) => unexpected.push(error) })
  const dry = { dryRun: false }
  t.same(await bearer!.establish('alice.jwt', dry), {
    status: 'valid',
    identity: { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'alice.jwt' },
  })
  t.same(await bearer!.establish('expired.jwt', dry), { status: 'rejected', code: 'ERR_TOKEN_EXPIRED' })
  t.same(await bearer!.establish('no-keys.jwt', dry), { status: 'unavailable', what: 'provider' })
  t.same(await bearer!.establish('bug.jwt', dry), { status: 'rejected', code: 'ERR_TOKEN_MALFORMED' }, 'a bug fails closed')
  t.equal(unexpected.length, 1, 'and is reported')
  t.same(await bearer!.establish('thrown-refusal.jwt', dry), { status: 'rejected', code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'a refusal thrown rather than returned keeps its code')
  t.equal(unexpected.length, 1, 'and is no bug to report')
  const ci = await bearer!.establish('ci.jwt', dry)
  t.match(ci, { status: 'valid', identity: { userId: 'robot-7', idToken: undefined } }, "another issuer's token is never forwarded as Dex's, and its user id is its sub, not the email it asserts")
  const quiet = createCredentialSources(kubeflowConfig(), { verifier })[0]!
  t.same(await quiet.establish('bug.jwt', dry), { status: 'rejected', code: 'ERR_TOKEN_MALFORMED' }, 'without a listener, still refused')
})

t.test('a session source establishes the session\'s identity, or refuses an unknown or ended session', async (t) => {
  const { sessions, calls } = sessionsFrom({
    live: { status: 'valid', session: SESSION, ticket: 'live', renewed: false },
    renewed: { status: 'valid', session: SESSION, ticket: 'new-ticket', renewed: true },
    ended: { status: 'ended', code: 'ERR_REFRESH_REJECTED' },
    down: { status: 'unavailable' },
    nameless: { status: 'valid', session: { ...SESSION, claims: { iss: ISSUER, sub: 'x' } }, ticket: 'nameless', renewed: false },
    corrupt: { status: 'valid', session: { ...SESSION, claims: null as unknown as Session['claims'] }, ticket: 'corrupt', renewed: false },
  })
  const sources = createCredentialSources(kubeflowConfig(), { verifier, sessions })
  const header = sources.find((source) => source.name === 'session-header')!
  const cookie = sources.find((source) => source.name === 'session-cookie')!
  const run = { dryRun: false }
  // The session's end (SESSION_MAX_AGE) and its current ID token's, for the user page.
  const alice = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token', expiresAt: SESSION.expiresAt, idTokenExpiresAt: SESSION.idTokenExpiresAt }
  t.same(await cookie.establish('live', run), { status: 'valid', identity: alice })
  t.same(await cookie.establish('renewed', run), { status: 'valid', identity: alice, renewed: { ticket: 'new-ticket', expiresAt: 1 } }, 'a cookie gets the renewed ticket back')
  t.same(await header.establish('renewed', run), { status: 'valid', identity: alice }, 'a header cannot be set in the answer')
  t.same(await cookie.establish('ended', run), { status: 'rejected', code: 'ERR_REFRESH_REJECTED', sessionEnded: true })
  t.same(await cookie.establish('unknown', run), { status: 'rejected', code: 'ERR_SESSION_INVALID' })
  t.same(await cookie.establish('down', run), { status: 'unavailable', what: 'session-store' })
  t.same(await cookie.establish('nameless', run), { status: 'rejected', code: 'ERR_IDENTITY_CLAIM_MISSING' }, 'a session without the user id claim is refused')
  t.same(await cookie.establish('corrupt', run), { status: 'rejected', code: 'ERR_IDENTITY_CLAIM_MISSING' }, 'unreadable claims are refused, never a 5xx')
  await header.establish('live', { dryRun: true })
  t.same(calls.at(-1), ['live', true], 'a dry run reaches the session authenticator')
})

t.test('KUBERNETES_TOKENS: a service-account token is the Kubernetes source\'s alone (bearer.ts)', async (t) => {
  const KUBE = 'https://kubernetes.default.svc.cluster.local'
  const jws = (payload: string) => `${Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url')}.${Buffer.from(payload).toString('base64url')}.c2ln`
  const kubernetes = { verifier, issuers: new Set([KUBE]), audiences: ['gateway'], maxLifetimeSeconds: 86400, review: undefined, keysLoaded: () => true }
  const sources = createCredentialSources(kubeflowConfig({ idTokenHeader: 'authorization' }), { verifier, kubernetes })
  t.same(sources.map((source) => source.name), ['kubernetes', 'authorization'], 'tried first: it takes only what it owns')
  const found = (authorization: string) =>
    sources.flatMap((source) => {
      const token = source.carried(request({ authorization }))
      return token === undefined ? [] : [source.name]
    })
  const cases: Array<[string, string, string[]]> = [
    ['a token of the cluster\'s issuer', jws(JSON.stringify({ iss: KUBE, sub: 'system:serviceaccount:a:b' })), ['kubernetes']],
    ['a Dex token', jws(JSON.stringify({ iss: ISSUER })), ['authorization']],
    ['no iss', jws('{}'), ['authorization']],
    ['a payload that is not JSON', jws('not json'), ['authorization']],
    ['a JSON null payload', jws('null'), ['authorization']],
    ['not shaped like a JWS', 'opaque-token', ['authorization']],
    ['too long to decode', `${jws(JSON.stringify({ iss: KUBE }))}${'A'.repeat(70_000)}`, ['authorization']],
  ]
  for (const [name, token, expected] of cases) t.same(found(`Bearer ${token}`), expected, name)
  const plain = createCredentialSources(kubeflowConfig({ idTokenHeader: 'authorization' }), { verifier })
  t.same(plain.map((source) => source.name), ['authorization'], 'off: no Kubernetes source, every bearer JWT is the JWT sources\'')
  t.equal(plain[0]?.carried(request({ authorization: `Bearer ${cases[0]![1]}` })), cases[0]![1], 'off: a service-account token goes to the JWT sources (and is refused there)')
})
