/** A session ticket → the live session, refreshed (single-flight) when its ID token nears expiry. */
import t from 'tap'
import type { JWTPayload } from 'jose'
import { AuthServiceError, SessionStoreUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { TokenClient, TokenResponse } from '../../../src/oidc/token-client.js'
import type { TokenVerifier } from '../../../src/oidc/token-verifier.js'
import { createSessionAuthenticator, refreshDue } from '../../../src/session/session-auth.js'
import type { Session } from '../../../src/session/session.js'
import type { SessionStore } from '../../../src/session/store.js'

const NOW = 1_750_000_000_000
const HOUR = 3_600_000
const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const SUB = 'CgVhbGljZRIFbG9jYWw'

function session(overrides: Partial<Session> = {}): Session {
  return {
    id: 'session-1',
    claims: { iss: ISSUER, sub: SUB, iat: NOW / 1000, email: 'alice@example.com', email_verified: true, groups: ['team-a'] },
    idToken: 'old.id.token',
    refreshToken: 'refresh-1',
    idTokenExpiresAt: NOW + HOUR,
    createdAt: NOW,
    expiresAt: NOW + 24 * HOUR,
    ...overrides,
  }
}

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

interface HarnessOptions {
  /** Tickets the store knows, and their sessions. */
  readonly sessions?: Record<string, Session>
  /** `cookie`: every save is a new ticket; `redis`: the ticket is the session id. */
  readonly store?: 'cookie' | 'redis'
  readonly requireFreshIdToken?: boolean
  readonly withRefreshErrorHook?: boolean
}

/** The authenticator over an in-memory store, a scripted token endpoint and verifier, and a clock the test moves. */
function harness(options: HarnessOptions = {}) {
  let now = NOW
  const clock = { now: () => now }
  const tickets = new Map(Object.entries(options.sessions ?? { 'ticket-0': session() }))
  const counts = { loads: 0, saves: 0, refreshes: 0, verifies: 0 }
  const removed: string[] = []
  const refreshErrors: unknown[] = []
  const refreshResults: Array<'ok' | 'rejected'> = []
  const knobs = {
    loadFails: undefined as Error | undefined,
    saveFails: undefined as Error | undefined,
    removeFails: false,
    exclusive: 'run' as 'run' | 'held-elsewhere' | 'fails',
    /** What the token endpoint does on refresh. */
    refresh: (refreshToken: string): Promise<TokenResponse> | TokenResponse =>
      ({ idToken: `new.id.token-${counts.refreshes}`, refreshToken: `${refreshToken}-rotated` }),
    /** The claims of a refreshed ID token. */
    claims: (): JWTPayload => ({ iss: ISSUER, sub: SUB, iat: now / 1000, exp: now / 1000 + 3600, email: 'alice@example.com', email_verified: true, groups: ['team-a', 'team-b'], department: 'research', nonce: 'x' }),
    verifyFails: undefined as Error | undefined,
  }
  let saved = 0
  const store: SessionStore = {
    kind: options.store ?? 'cookie',
    async save(s) {
      counts.saves++
      if (knobs.saveFails) throw knobs.saveFails
      const ticket = options.store === 'redis' ? s.id : `ticket-${++saved}`
      tickets.set(ticket, s)
      return ticket
    },
    async load(ticket, nowMs) {
      counts.loads++
      if (knobs.loadFails) throw knobs.loadFails
      const s = tickets.get(ticket)
      return s !== undefined && s.expiresAt > nowMs ? s : undefined
    },
    async remove(ticket) {
      removed.push(ticket)
      if (knobs.removeFails) throw new SessionStoreUnavailableError()
      tickets.delete(ticket)
    },
    async exclusive(_id, work) {
      if (knobs.exclusive === 'held-elsewhere') return undefined
      if (knobs.exclusive === 'fails') throw new SessionStoreUnavailableError()
      return work()
    },
    async close() {},
  }
  const tokens: TokenClient = {
    async exchangeCode() {
      throw new Error('not used')
    },
    async refresh(refreshToken) {
      counts.refreshes++
      return knobs.refresh(refreshToken)
    },
    async revoke() {},
  }
  const verifier: TokenVerifier = {
    async check(token) {
      counts.verifies++
      if (knobs.verifyFails instanceof TokenRejectedError) return knobs.verifyFails
      if (knobs.verifyFails) throw knobs.verifyFails
      const claims = knobs.claims()
      return { token, issuer: ISSUER, primary: true, claims, expiresAtMs: (claims.exp as number) * 1000 }
    },
  }
  const authenticate = createSessionAuthenticator({
    store,
    tokens,
    verifier,
    clock,
    requireFreshIdToken: options.requireFreshIdToken ?? false,
    identityClaims: ['email', 'department'],
    ...(options.withRefreshErrorHook === false ? {} : { onRefreshError: (error: unknown) => refreshErrors.push(error) }),
    onRefresh: (result) => refreshResults.push(result),
  })
  return {
    authenticate,
    knobs,
    counts,
    removed,
    refreshErrors,
    refreshResults,
    tickets,
    setNow: (ms: number) => (now = ms),
  }
}

/** Just inside the refresh window of a one-hour ID token (the window is capped at 5 minutes). */
const INSIDE_WINDOW = NOW + HOUR - 5 * 60_000 + 1

t.test('refresh is due when less than a quarter of the ID token lifetime is left, between 2 s and 5 min', async (t) => {
  const hour = session()
  t.notOk(refreshDue(hour, NOW + HOUR - 5 * 60_000), 'a one-hour token: not at exactly 5 minutes left (capped, not 15)')
  t.ok(refreshDue(hour, INSIDE_WINDOW), 'a one-hour token: due with less than 5 minutes left')
  t.ok(refreshDue(hour, NOW + 2 * HOUR), 'an expired token is due')

  const eight = session({ idTokenExpiresAt: NOW + 8 * 60_000 })
  t.notOk(refreshDue(eight, NOW + 6 * 60_000), 'an 8-minute token: not at 2 minutes left (a quarter)')
  t.ok(refreshDue(eight, NOW + 6 * 60_000 + 1), 'an 8-minute token: due just under a quarter')

  const short = session({ idTokenExpiresAt: NOW + 4_000 })
  t.notOk(refreshDue(short, NOW + 2_000), 'a 4-second token: the window is at least 2 s, not 1 s')
  t.ok(refreshDue(short, NOW + 2_001))
})

t.test('the lifetime counts from the ID token\'s iat, or from the session start without one', async (t) => {
  // A day-old session whose latest ID token was issued now and lives 40 s: a 10 s window.
  const refreshed = session({ createdAt: NOW - 24 * HOUR, idTokenExpiresAt: NOW + 40_000 })
  t.notOk(refreshDue(refreshed, NOW + 29_000), 'from iat: 11 s left is outside a 10 s window')
  t.ok(refreshDue(refreshed, NOW + 30_001))
  const noIat = session({ claims: { iss: ISSUER, sub: SUB }, createdAt: NOW, idTokenExpiresAt: NOW + 40_000 })
  t.notOk(refreshDue(noIat, NOW + 29_000), 'from createdAt: the same 10 s window')
  t.ok(refreshDue(noIat, NOW + 30_001))
})

t.test('without a refresh token (no offline_access) nothing is ever refreshed', async (t) => {
  t.notOk(refreshDue(session({ refreshToken: undefined }), NOW + 2 * HOUR))
  const h = harness({ sessions: { 'ticket-0': session({ refreshToken: undefined }) } })
  h.setNow(INSIDE_WINDOW)
  t.match(await h.authenticate('ticket-0'), { status: 'valid', ticket: 'ticket-0', renewed: false })
  t.equal(h.counts.refreshes, 0)
})

t.test('a session far from its ID token expiry is used as it is, without calling the provider', async (t) => {
  const h = harness()
  const outcome = await h.authenticate('ticket-0')
  t.same(outcome, { status: 'valid', session: session(), ticket: 'ticket-0', renewed: false })
  t.same(h.counts, { loads: 1, saves: 0, refreshes: 0, verifies: 0 })
})

t.test('an unknown, tampered or expired ticket has no session', async (t) => {
  const h = harness()
  t.same(await h.authenticate('forged'), { status: 'none' })
  h.setNow(NOW + 24 * HOUR)
  t.same(await h.authenticate('ticket-0'), { status: 'none' }, 'past SESSION_MAX_AGE')
})

t.test('inside the window the session is refreshed: new ID token, rotated refresh token, same session, new ticket', async (t) => {
  const h = harness()
  h.setNow(INSIDE_WINDOW)
  const outcome = await h.authenticate('ticket-0')
  if (outcome.status !== 'valid') throw new Error(`expected a valid session, got ${outcome.status}`)
  t.equal(outcome.renewed, true)
  t.equal(outcome.ticket, 'ticket-1', 'the cookie store gives a new ticket')
  const { session: next } = outcome
  t.equal(next.idToken, 'new.id.token-1')
  t.equal(next.refreshToken, 'refresh-1-rotated')
  t.equal(next.idTokenExpiresAt, INSIDE_WINDOW + HOUR, 'the new token\'s exp')
  t.same(
    [next.id, next.createdAt, next.expiresAt],
    [session().id, NOW, NOW + 24 * HOUR],
    'the same session: id and absolute end unchanged (a refresh never extends SESSION_MAX_AGE)',
  )
  t.same(next.claims.groups, ['team-a', 'team-b'], 'claims come from the new token')
  t.equal(next.claims.department, 'research', 'identity claims (USERID_CLAIM, GROUPS_CLAIM) are kept')
  t.equal(next.claims.nonce, undefined, 'other claims are not')
  t.same(h.tickets.get('ticket-1'), next, 'the refreshed session is stored')
})

t.test('a provider that does not rotate refresh tokens keeps the old one', async (t) => {
  const h = harness()
  h.knobs.refresh = () => ({ idToken: 'new.id.token', refreshToken: undefined })
  h.setNow(INSIDE_WINDOW)
  t.match(await h.authenticate('ticket-0'), { status: 'valid', session: { refreshToken: 'refresh-1', idToken: 'new.id.token' } })
})

t.test('concurrent requests of one session refresh it once and all get the result (single-flight)', async (t) => {
  const h = harness()
  const answer = deferred<TokenResponse>()
  h.knobs.refresh = () => answer.promise
  h.setNow(INSIDE_WINDOW)
  const pending = [h.authenticate('ticket-0'), h.authenticate('ticket-0'), h.authenticate('ticket-0')]
  await new Promise((resolve) => setImmediate(resolve))
  answer.resolve({ idToken: 'new.id.token', refreshToken: 'refresh-2' })
  const outcomes = await Promise.all(pending)
  t.equal(h.counts.refreshes, 1, 'one call to the token endpoint (Dex would revoke a refresh token used twice)')
  t.equal(h.counts.saves, 1)
  t.same(h.refreshResults, ['ok'], 'one renewal reported (what authservice_session_refreshes_total counts)')
  for (const outcome of outcomes) t.match(outcome, { status: 'valid', ticket: 'ticket-1', renewed: true })
})

t.test('a request still carrying the old ticket reuses the renewed one for a minute, then loads it again', async (t) => {
  const h = harness()
  h.setNow(INSIDE_WINDOW)
  await h.authenticate('ticket-0')
  const loads = h.counts.loads
  t.match(await h.authenticate('ticket-0'), { status: 'valid', ticket: 'ticket-1', renewed: true }, 'the old cookie gets the new ticket again')
  t.equal(h.counts.loads, loads, 'without a store lookup')
  t.equal(h.counts.refreshes, 1, 'and without a second refresh')

  h.setNow(INSIDE_WINDOW + 60_000 + 1)
  await h.authenticate('ticket-0')
  t.equal(h.counts.loads, loads + 1, 'after a minute the old ticket is looked up again')
})

t.test('a remembered renewal is not used past the session\'s absolute end', async (t) => {
  const h = harness({ sessions: { 'ticket-0': session({ expiresAt: INSIDE_WINDOW + 1_000 }) } })
  h.setNow(INSIDE_WINDOW)
  t.match(await h.authenticate('ticket-0'), { status: 'valid', renewed: true })
  h.setNow(INSIDE_WINDOW + 1_000)
  t.same(await h.authenticate('ticket-0'), { status: 'none' })
})

t.test('with a store whose ticket is the session id (redis), a refresh is not a renewal and nothing is remembered', async (t) => {
  const h = harness({ store: 'redis', sessions: { 'session-1': session() } })
  h.setNow(INSIDE_WINDOW)
  t.match(await h.authenticate('session-1'), { status: 'valid', ticket: 'session-1', renewed: false, session: { idToken: 'new.id.token-1' } })
  const loads = h.counts.loads
  await h.authenticate('session-1')
  t.equal(h.counts.loads, loads + 1, 'the next request reads the store')
})

t.test('only the 1000 most recent renewals are remembered', async (t) => {
  const sessions = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`old-${i}`, session({ id: `session-${i}` })]))
  const h = harness({ sessions })
  h.setNow(INSIDE_WINDOW)
  for (let i = 0; i < 1001; i++) await h.authenticate(`old-${i}`)
  const loads = h.counts.loads
  await h.authenticate('old-1')
  t.equal(h.counts.loads, loads, 'the second renewal is still remembered')
  await h.authenticate('old-0')
  t.equal(h.counts.loads, loads + 1, 'the first was forgotten')
})

t.test('a refreshed ID token for another issuer or subject ends the session and removes it', async (t) => {
  for (const change of [{ sub: 'CgdtYWxsb3J5' }, { iss: 'https://evil.example' }]) {
    const h = harness()
    h.knobs.claims = () => ({ iss: ISSUER, sub: SUB, exp: INSIDE_WINDOW / 1000 + 3600, ...change })
    h.setNow(INSIDE_WINDOW)
    t.same(await h.authenticate('ticket-0'), { status: 'ended', code: 'ERR_REFRESH_REJECTED' }, JSON.stringify(change))
    t.same(h.removed, ['ticket-0'])
    t.equal(h.counts.saves, 0, 'the other subject\'s session is never stored')
  }
})

t.test('invalid_grant (a login elsewhere revoked the refresh token) ends the session and removes it', async (t) => {
  const h = harness()
  h.knobs.refresh = () => {
    throw new AuthServiceError('ERR_REFRESH_REJECTED', 'token endpoint answered 400')
  }
  h.setNow(INSIDE_WINDOW)
  t.same(await h.authenticate('ticket-0'), { status: 'ended', code: 'ERR_REFRESH_REJECTED' })
  t.same(h.removed, ['ticket-0'])
  t.same(h.refreshErrors, [], 'an ended session is not a refresh error')
  t.same(h.refreshResults, ['rejected'], 'reported as a rejected refresh')
})

t.test('the session ends even when removing it fails', async (t) => {
  const h = harness()
  h.knobs.refresh = () => {
    throw new AuthServiceError('ERR_REFRESH_REJECTED', 'token endpoint answered 400')
  }
  h.knobs.removeFails = true
  h.setNow(INSIDE_WINDOW)
  t.same(await h.authenticate('ticket-0'), { status: 'ended', code: 'ERR_REFRESH_REJECTED' })
})

t.test('a provider outage during refresh keeps the session and reports the error', async (t) => {
  const failures: [name: string, setup: (knobs: ReturnType<typeof harness>['knobs']) => Error][] = [
    [
      'the token endpoint is unreachable',
      (knobs) => {
        const error = new AuthServiceError('ERR_REFRESH_FAILED', 'token endpoint unreachable')
        knobs.refresh = () => {
          throw error
        }
        return error
      },
    ],
    [
      'the refreshed ID token does not verify',
      (knobs) => {
        const error = new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'token signature invalid')
        knobs.verifyFails = error
        return error
      },
    ],
  ]
  for (const [name, setup] of failures) {
    const h = harness()
    const error = setup(h.knobs)
    h.setNow(INSIDE_WINDOW)
    t.same(await h.authenticate('ticket-0'), { status: 'valid', session: session(), ticket: 'ticket-0', renewed: false }, `${name}: the session as it was`)
    t.same(h.refreshErrors, [error], `${name}: onRefreshError is told`)
    t.same(h.removed, [], `${name}: nothing removed`)
  }
  const quiet = harness({ withRefreshErrorHook: false })
  quiet.knobs.refresh = () => {
    throw new Error('ECONNRESET')
  }
  quiet.setNow(INSIDE_WINDOW)
  t.match(await quiet.authenticate('ticket-0'), { status: 'valid', renewed: false }, 'without a hook too')
})

t.test('with SET_AUTHORIZATION_HEADER, an expired ID token that cannot be refreshed ends the session', async (t) => {
  const h = harness({ requireFreshIdToken: true })
  h.knobs.refresh = () => {
    throw new AuthServiceError('ERR_REFRESH_FAILED', 'token endpoint unreachable')
  }
  h.setNow(NOW + HOUR)
  t.same(await h.authenticate('ticket-0'), { status: 'ended', code: 'ERR_TOKEN_EXPIRED' }, 'Istio would refuse the expired token we would forward')

  h.setNow(INSIDE_WINDOW)
  t.match(await h.authenticate('ticket-0'), { status: 'valid', renewed: false }, 'a token not yet expired is still used while refresh fails')

  const noRefresh = harness({ requireFreshIdToken: true, sessions: { 'ticket-0': session({ refreshToken: undefined }) } })
  noRefresh.setNow(NOW + HOUR)
  t.same(await noRefresh.authenticate('ticket-0'), { status: 'ended', code: 'ERR_TOKEN_EXPIRED' }, 'without a refresh token')
})

t.test('without SET_AUTHORIZATION_HEADER an expired ID token does not end the session (the headers come from the claims)', async (t) => {
  const h = harness({ requireFreshIdToken: false, sessions: { 'ticket-0': session({ refreshToken: undefined }) } })
  h.setNow(NOW + 2 * HOUR)
  t.match(await h.authenticate('ticket-0'), { status: 'valid', ticket: 'ticket-0' })
})

t.test('a session store that cannot be reached makes the session "unavailable", never ended', async (t) => {
  const onLoad = harness()
  onLoad.knobs.loadFails = new SessionStoreUnavailableError()
  t.same(await onLoad.authenticate('ticket-0'), { status: 'unavailable' }, 'while loading')

  const onSave = harness()
  onSave.knobs.saveFails = new SessionStoreUnavailableError()
  onSave.setNow(INSIDE_WINDOW)
  t.same(await onSave.authenticate('ticket-0'), { status: 'unavailable' }, 'while storing the refreshed session')

  const onLock = harness()
  onLock.knobs.exclusive = 'fails'
  onLock.setNow(INSIDE_WINDOW)
  t.same(await onLock.authenticate('ticket-0'), { status: 'unavailable' }, 'while taking the refresh lock')
  t.same([...onLoad.removed, ...onSave.removed, ...onLock.removed], [], 'nothing removed')
})

t.test('a store bug while loading is not hidden as "no session"', async (t) => {
  const h = harness()
  h.knobs.loadFails = new TypeError('bug')
  await t.rejects(h.authenticate('ticket-0'), { message: 'bug' })
})

t.test('while another replica holds the refresh lock, the session is used as it is', async (t) => {
  const h = harness()
  h.knobs.exclusive = 'held-elsewhere'
  h.setNow(INSIDE_WINDOW)
  t.same(await h.authenticate('ticket-0'), { status: 'valid', session: session(), ticket: 'ticket-0', renewed: false })
  t.equal(h.counts.refreshes, 0)
  t.same(h.refreshErrors, [])
})

t.test('after a refresh finishes, a later one can run again', async (t) => {
  const h = harness({ store: 'redis', sessions: { 'session-1': session() } })
  h.setNow(INSIDE_WINDOW)
  await h.authenticate('session-1')
  h.setNow(INSIDE_WINDOW + HOUR)
  t.match(await h.authenticate('session-1'), { status: 'valid', session: { idToken: 'new.id.token-2' } })
  t.equal(h.counts.refreshes, 2)
})
