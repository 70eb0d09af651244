/**
 * The one contract every SessionStore meets (oauth2-proxy's pkg/sessions/tests shared suite):
 * round trip, refusal of foreign, tampered and malformed tickets, absolute expiry, independence,
 * removal (the documented cookie/redis difference), key rotation, single-flight `exclusive`, and,
 * for stores with a backend, failing fast while it is down and recovering by itself.
 *
 * Time is the `nowMs` argument: nothing here sleeps to let a session expire.
 */
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { deriveKeys, type KeyRing } from '../../src/session/keys.js'
import type { Session } from '../../src/session/session.js'
import type { SessionStore } from '../../src/session/store.js'
import { waitUntil } from '../helpers/wait.js'

export interface StoreHarness {
  readonly store: SessionStore
  /** Makes the backend unreachable (redis: `redis.stop()`). */
  readonly breakBackend?: () => Promise<void>
  /** Brings the backend back (redis: `redis.start()`). */
  readonly restoreBackend?: () => Promise<void>
  /** Whether sessions survive breakBackend + restoreBackend (a persisted Redis). */
  readonly persistent?: boolean
}

/** A new store under `ring`; every store made for one contract run shares one backend. */
export type MakeStore = (ring: KeyRing) => Promise<StoreHarness>

export const NOW = 1_750_000_000_000
const DAY_MS = 86_400_000

/** A key ring from fixed secrets (each becomes 32 bytes of its character). */
export function ringOf(...names: string[]): KeyRing {
  return deriveKeys({ sessionSecrets: names.map((name) => new TextEncoder().encode(name.repeat(32).slice(0, 32))), clientSecret: '' }, 'session')
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A Dex-like ID token of about 1 KB (RS256: a 256-byte signature), not verifiable, realistic in size. */
export function fakeIdToken(claims: Record<string, unknown>): string {
  const header = { alg: 'RS256', kid: randomBytes(20).toString('hex') }
  return `${b64(header)}.${b64(claims)}.${randomBytes(256).toString('base64url')}`
}

/** A realistic session (Dex ID token, refresh token, Kubeflow claims), valid for a day from NOW. */
export function makeSession(overrides: Partial<Session> = {}): Session {
  const sub = `Cg${randomBytes(24).toString('base64url')}EgVsb2NhbA`
  const claims = {
    iss: 'http://dex.auth.svc.cluster.local:5556/dex',
    sub,
    aud: 'kubeflow-oidc-authservice',
    exp: Math.floor(NOW / 1000) + DAY_MS / 1000,
    iat: Math.floor(NOW / 1000),
    nonce: randomBytes(16).toString('base64url'),
    at_hash: randomBytes(16).toString('base64url'),
    email: 'user@example.com',
    email_verified: true,
    groups: ['kubeflow-users', 'team-a', 'team-b'],
    name: 'Example User',
    preferred_username: 'user',
    federated_claims: { connector_id: 'local', user_id: randomBytes(16).toString('hex') },
  }
  return {
    id: randomBytes(32).toString('base64url'),
    claims: { iss: claims.iss, sub, email: claims.email, email_verified: true, groups: claims.groups },
    idToken: fakeIdToken(claims),
    // Dex refresh tokens: a base64 protobuf of the token id and a random secret.
    refreshToken: `Chl${randomBytes(18).toString('base64url')}EhlhdXRoLWNvZGUtJHtyYW5kb20}`,
    idTokenExpiresAt: NOW + DAY_MS,
    createdAt: NOW,
    expiresAt: NOW + DAY_MS,
    ...overrides,
  }
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const MAX_EXHAUSTIVE = 4_096

/** Positions to alter: all of them for a ticket up to 4096 characters, else an even sample of 4096. */
function positions(length: number): number[] {
  if (length <= MAX_EXHAUSTIVE) return Array.from({ length }, (_, i) => i)
  return Array.from({ length: MAX_EXHAUSTIVE }, (_, i) => Math.floor((i * length) / MAX_EXHAUSTIVE))
}

/** `ticket` with the character at `i` replaced by another base64url character (so shape checks still pass). */
function flipAt(ticket: string, i: number): string {
  const at = BASE64URL.indexOf(ticket.charAt(i))
  const other = at === -1 ? 'A' : BASE64URL.charAt((at + 1 + (i % 63)) % 64)
  return ticket.slice(0, i) + other + ticket.slice(i + 1)
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

const UNAVAILABLE = { code: 'ERR_SESSION_STORE_UNAVAILABLE' }
const FAIL_FAST_MS = 2_000

export function sessionStoreContract(t: Test, name: string, makeStore: MakeStore): void {
  const ring = ringOf('contract-current')

  /** A store under `storeRing`, closed when the subtest ends. */
  async function open(t: Test, storeRing: KeyRing = ring): Promise<StoreHarness> {
    const harness = await makeStore(storeRing)
    t.teardown(() => harness.store.close())
    return harness
  }

  t.test(`${name}: save then load gives the session back`, async (t) => {
    const { store } = await open(t)
    const session = makeSession()
    const ticket = await store.save(session, NOW)
    t.type(ticket, 'string')
    t.strictSame(await store.load(ticket, NOW), session, 'the same session')
    t.strictSame(await store.load(ticket, NOW + 1_000), session, 'loading does not use the ticket up')
    const bare = makeSession({ refreshToken: undefined, claims: { iss: 'https://dex', sub: 'x' } })
    t.strictSame(await store.load(await store.save(bare, NOW), NOW), bare, 'without a refresh token or extra claims')
  })

  t.test(`${name}: a session ends at expiresAt, whatever the ticket`, async (t) => {
    const { store } = await open(t)
    const session = makeSession({ expiresAt: NOW + 60_000 })
    const ticket = await store.save(session, NOW)
    t.ok(await store.load(ticket, NOW + 59_999), 'alive 1 ms before')
    t.equal(await store.load(ticket, NOW + 60_000), undefined, 'ended at expiresAt')
    t.equal(await store.load(ticket, NOW + 10 * DAY_MS), undefined, 'and after')
  })

  t.test(`${name}: two sessions are independent`, async (t) => {
    const { store } = await open(t)
    const [a, b] = [makeSession(), makeSession()]
    const [ticketA, ticketB] = [await store.save(a, NOW), await store.save(b, NOW)]
    t.not(ticketA, ticketB)
    t.strictSame(await store.load(ticketA, NOW), a)
    t.strictSame(await store.load(ticketB, NOW), b)
    await store.remove(ticketA)
    t.strictSame(await store.load(ticketB, NOW), b, 'removing one leaves the other')
  })

  t.test(`${name}: remove`, async (t) => {
    const { store } = await open(t)
    const session = makeSession()
    const ticket = await store.save(session, NOW)
    await store.remove(ticket)
    if (store.kind === 'redis') {
      t.equal(await store.load(ticket, NOW), undefined, 'redis: the session is over for every copy of the ticket')
    } else {
      // Documented: the cookie store keeps nothing server-side, so a copied cookie outlives logout.
      t.strictSame(await store.load(ticket, NOW), session, 'cookie: a kept copy still loads until expiresAt')
      t.equal(await store.load(ticket, session.expiresAt), undefined, 'cookie: … and not after')
    }
    await store.remove(ticket)
    await store.remove('not a ticket')
    t.pass('removing twice, or a malformed ticket, is harmless')
  })

  t.test(`${name}: malformed tickets load as undefined, never throw`, async (t) => {
    const { store } = await open(t)
    const ticket = await store.save(makeSession(), NOW)
    const malformed = [
      '', 'x', '.', '....', 'a.b.c.d.e', 'undefined', '__proto__', 'A'.repeat(43 * 2), '!'.repeat(43),
      `${'A'.repeat(42)}=`, `${'A'.repeat(42)}é`, 'A'.repeat(1_000_000), `${ticket}.${ticket}`, ticket.replaceAll('.', '..'),
      ticket.toUpperCase() === ticket ? ticket.toLowerCase() : ticket.toUpperCase(),
    ].filter((bad) => bad !== ticket)
    for (const bad of malformed) t.equal(await store.load(bad, NOW), undefined, `refused: ${bad.slice(0, 24)}… (${bad.length})`)
  })

  t.test(`${name}: a ticket of another ring or store loads as undefined`, async (t) => {
    const { store } = await open(t)
    const { store: other } = await open(t, ringOf('contract-other'))
    const foreign = await other.save(makeSession(), NOW)
    t.equal(await store.load(foreign, NOW), undefined, 'sealed under keys this store does not have')
    const own = await store.save(makeSession(), NOW)
    t.equal(await other.load(own, NOW), undefined, 'and the other way round')
  })

  t.test(`${name}: altered tickets load as undefined, never throw`, async (t) => {
    const { store } = await open(t)
    const ticket = await store.save(makeSession(), NOW)
    t.ok(await store.load(ticket, NOW), 'the unaltered ticket loads')
    let loaded = 0
    const altered = new Set<string>()
    for (const i of positions(ticket.length)) {
      altered.add(flipAt(ticket, i))
      altered.add(ticket.slice(0, i) + ticket.slice(i + 1))
    }
    for (const cut of positions(ticket.length)) altered.add(ticket.slice(0, cut))
    for (const extra of ['A', 'AA', 'AAA', 'AAAA', '.', '=', '==', ' ', '\n', '\0', ticket]) {
      altered.add(ticket + extra)
      altered.add(extra + ticket)
    }
    altered.delete(ticket)
    for (const variant of altered) if ((await store.load(variant, NOW)) !== undefined) loaded++
    t.equal(loaded, 0, `none of ${altered.size} altered tickets (every position flipped or dropped, truncations, extensions) loads`)
  })

  t.test(`${name}: key rotation keeps sessions, retiring a key ends them`, async (t) => {
    const old = ringOf('rotation-old')
    const rotated = ringOf('rotation-new', 'rotation-old')
    const retired = ringOf('rotation-new')
    const { store: before } = await open(t, old)
    const { store: during } = await open(t, rotated)
    const { store: after } = await open(t, retired)
    const session = makeSession()
    const ticket = await before.save(session, NOW)
    t.strictSame(await during.load(ticket, NOW), session, 'sealed under the old first secret, loads under [new, old]')
    t.equal(await after.load(ticket, NOW), undefined, 'and not once the old secret is gone')
    const fresh = makeSession()
    const freshTicket = await during.save(fresh, NOW)
    t.strictSame(await after.load(freshTicket, NOW), fresh, 'a session saved under [new, old] is sealed under new')
    t.equal(await before.load(freshTicket, NOW), undefined, 'which a replica that only knows old cannot read')
    const resaved = await during.save(session, NOW)
    t.strictSame(await after.load(resaved, NOW), session, 're-saving (refresh) moves a session to the new key')
  })

  t.test(`${name}: exclusive runs the work once at a time per session`, async (t) => {
    const { store } = await open(t)
    const id = makeSession().id
    const gate = deferred()
    let runs = 0
    const first = store.exclusive(id, async () => {
      runs++
      await gate.promise
      return 'first'
    })
    // Let the first caller take the lock (a Redis round trip) before the second one asks.
    await waitUntil('the first holder to start', async () => runs === 1, { timeoutMs: 2_000, intervalMs: 5 })
    const second = await store.exclusive(id, async () => {
      runs++
      return 'second'
    })
    t.equal(second, undefined, 'the second caller gets undefined at once, while the first still runs')
    t.equal(await store.exclusive(makeSession().id, async () => 'other'), 'other', 'another session is not blocked')
    gate.resolve()
    t.equal(await first, 'first')
    t.equal(runs, 1, 'the work ran once')
    t.equal(await store.exclusive(id, async () => 'again'), 'again', 'runs again after the first finished')
    await t.rejects(
      store.exclusive(id, async () => {
        throw new Error('work failed')
      }),
      { message: 'work failed' },
      'a failing work rejects with its error',
    )
    t.equal(await store.exclusive(id, async () => 'after failure'), 'after failure', 'and releases the lock')
  })

  t.test(`${name}: backend outage fails fast and recovers by itself`, async (t) => {
    const harness = await open(t)
    const { store, breakBackend, restoreBackend, persistent = false } = harness
    if (breakBackend === undefined || restoreBackend === undefined) {
      t.equal(store.kind, 'cookie', 'only the cookie store has no backend')
      return
    }
    const session = makeSession()
    const ticket = await store.save(session, NOW)
    await breakBackend()
    let restored = false
    t.teardown(async () => {
      if (!restored) await restoreBackend()
    })
    const attempts: [string, () => Promise<unknown>][] = [
      ['load', () => store.load(ticket, NOW)],
      ['save', () => store.save(makeSession(), NOW)],
      ['remove', () => store.remove(ticket)],
      ['exclusive', () => store.exclusive(session.id, async () => 'ran')],
      ['load again', () => store.load(ticket, NOW)],
    ]
    for (const [what, attempt] of attempts) {
      const started = performance.now()
      await t.rejects(attempt(), UNAVAILABLE, `${what} rejects with ERR_SESSION_STORE_UNAVAILABLE`)
      const elapsed = performance.now() - started
      t.ok(elapsed < FAIL_FAST_MS, `${what} failed within ${FAIL_FAST_MS} ms (${Math.round(elapsed)} ms)`)
    }
    t.equal(await store.load('not a ticket', NOW), undefined, 'a malformed ticket is still refused, without I/O')

    await restoreBackend()
    restored = true
    await waitUntil('the store to reconnect', async () => {
      await store.save(makeSession(), NOW)
      return true
    }, { timeoutMs: 10_000, intervalMs: 100 })
    t.pass('the same store instance works again, without a restart')
    if (persistent) t.strictSame(await store.load(ticket, NOW), session, 'the session survived (persisted backend)')
    else t.equal(await store.load(ticket, NOW), undefined, 'the session is gone with the unpersisted data, not an error')
    const next = makeSession()
    t.strictSame(await store.load(await store.save(next, NOW), NOW), next, 'new sessions work')
  })
}
