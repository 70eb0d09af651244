/** The cookie store: the sealed session is the ticket; the shared contract plus its own edges. */
import t from 'tap'
import { createCookieStore, parseSession } from '../../../src/session/cookie-store.js'
import { credentialFingerprint } from '../../../src/check/fingerprint.js'
import { lastValueSha256 } from '../../../src/digest.js'
import { seal } from '../../../src/session/seal.js'
import { makeSession, NOW, ringOf, sessionStoreContract } from '../../contracts/session-store.js'

sessionStoreContract(t, 'cookie store', async (ring) => ({ store: createCookieStore({ ring }) }))

t.test('a realistic session fits one cookie', async (t) => {
  const store = createCookieStore({ ring: ringOf('size') })
  const session = makeSession()
  const ticket = await store.save(session, NOW)
  t.comment(
    `ticket: ${ticket.length} characters for an ID token of ${session.idToken.length} and a refresh token of ` +
      `${session.refreshToken?.length ?? 0}`,
  )
  // 4096 bytes per cookie (RFC 6265 §6.1) must also hold the name and the attributes.
  t.ok(ticket.length < 3_800, 'leaves room for the cookie name and attributes in 4096 bytes')
})

t.test('each save gives a new ticket for the same session', async (t) => {
  const store = createCookieStore({ ring: ringOf('fresh') })
  const session = makeSession()
  const [a, b] = [await store.save(session, NOW), await store.save(session, NOW)]
  t.not(a, b, 'a fresh IV every time')
  t.strictSame(await store.load(b, NOW), session)
})

t.test('a sealed value that is not a session loads as undefined', async (t) => {
  const ring = ringOf('shape')
  const store = createCookieStore({ ring })
  for (const value of [null, 'text', 42, [], { id: 'x' }, { ...makeSession(), expiresAt: 'tomorrow' }]) {
    t.equal(await store.load(await seal(value, ring), NOW), undefined, JSON.stringify(value).slice(0, 40))
  }
})

t.test('parseSession accepts exactly the session shape', async (t) => {
  const session = makeSession()
  t.strictSame(parseSession(JSON.parse(JSON.stringify(session))), session, 'a JSON round trip')
  const withoutRefresh = makeSession({ refreshToken: undefined })
  const parsed = parseSession(JSON.parse(JSON.stringify(withoutRefresh)))
  t.ok(parsed && 'refreshToken' in parsed && parsed.refreshToken === undefined, 'a dropped refreshToken comes back as undefined')
  t.strictSame(parseSession({ ...session, extra: 'dropped' }), session, 'unknown top-level fields are dropped')
  const broken: Record<string, unknown>[] = [
    { id: 1 },
    { claims: null },
    { claims: [] },
    { claims: 'x' },
    { claims: { sub: 'x' } },
    { claims: { iss: 'https://dex' } },
    { claims: { iss: 1, sub: 'x' } },
    { idToken: undefined },
    { refreshToken: 7 },
    { refreshToken: null },
    { idTokenExpiresAt: '1' },
    { createdAt: Number.NaN },
    { expiresAt: Number.POSITIVE_INFINITY },
    { expiresAt: undefined },
  ]
  for (const change of broken) t.equal(parseSession({ ...session, ...change }), undefined, `refused: ${Object.keys(change)[0]}`)
  for (const value of [undefined, null, 'session', [], 3]) t.equal(parseSession(value), undefined, `refused: ${String(value)}`)
})

t.test('remove and close are no-ops; exclusive is per process', async (t) => {
  const store = createCookieStore({ ring: ringOf('noop') })
  const session = makeSession()
  const ticket = await store.save(session, NOW)
  await store.remove(ticket)
  t.strictSame(await store.load(ticket, NOW), session, 'remove cannot end a cookie session (documented)')
  const other = createCookieStore({ ring: ringOf('noop') })
  let release = () => {}
  const running = store.exclusive(session.id, () => new Promise<string>((resolve) => (release = () => resolve('done'))))
  t.equal(await other.exclusive(session.id, async () => 'other process'), 'other process', 'another store instance (replica) is not blocked')
  release()
  t.equal(await running, 'done')
  await store.close()
  t.strictSame(await store.load(ticket, NOW), session, 'close releases nothing a ticket depends on')
})

t.test('a ticket opened once is not decrypted again, and still expires on time', async (t) => {
  const store = createCookieStore({ ring: ringOf('opened') })
  const session = makeSession()
  const ticket = await store.save(session, NOW)
  const first = await store.load(ticket, NOW)
  t.strictSame(first, session)
  t.equal(await store.load(ticket, NOW), first, 'the same opened session, not a fresh decryption')
  t.equal(await store.load(ticket, session.expiresAt), undefined, 'refused at its expiresAt, cached or not')
  t.not(await store.load(ticket, NOW), first, 'forgotten then: an earlier clock opens it afresh')
})

t.test('opened sessions are bounded: the least recently used is dropped', async (t) => {
  const store = createCookieStore({ ring: ringOf('bounded'), cacheEntries: 1 })
  const [a, b] = [await store.save(makeSession(), NOW), await store.save(makeSession(), NOW)]
  const openedA = await store.load(a, NOW)
  await store.load(b, NOW)
  const reopenedA = await store.load(a, NOW)
  t.strictSame(reopenedA, openedA, 'still the same session')
  t.not(reopenedA, openedA, 'decrypted again: b took the only place')
})

t.test('opened sessions are kept by the digest the service shares with its decision line, so a cookie is hashed once per check', async (t) => {
  const shared = lastValueSha256()
  const hashed: string[] = []
  const store = createCookieStore({ ring: ringOf('digest'), digest: (value) => (hashed.push(value), shared(value)) })
  const ticket = await store.save(makeSession(), NOW)
  t.ok(await store.load(ticket, NOW), 'opened')
  t.ok(await store.load(ticket, NOW), 'and opened again, from what it kept')
  t.same(hashed, [ticket, ticket], 'each load asked the shared digest')
  t.equal(credentialFingerprint(ticket, shared), credentialFingerprint(ticket), 'whose answer the decision line then reuses')
})
