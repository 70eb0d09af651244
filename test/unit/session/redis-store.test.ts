/**
 * The redis store against a stand-in ioredis client: what it asks of Redis (hashed keys, sealed
 * values, TTLs ending at the session's end, the lock and its guarded release), the client settings
 * that make it fail fast, and how every connection state and failure becomes
 * SessionStoreUnavailableError. That a real Redis answers as assumed is
 * test/integration/redis-store.test.ts.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mock } from 'node:test'
import t, { type Test } from 'tap'
import type { RedisStoreOptions } from '../../../src/session/redis-store.js'
import { seal } from '../../../src/session/seal.js'
import { makeSession, NOW, ringOf } from '../../contracts/session-store.js'

const UNAVAILABLE = { code: 'ERR_SESSION_STORE_UNAVAILABLE' }
const hash = (text: string) => createHash('sha256').update(text).digest('hex')
const ring = ringOf('redis-unit')

/** The part of ioredis the store uses, in memory; `fail` makes every command reject. */
class StandInRedis extends EventEmitter {
  status = 'ready'
  readonly values = new Map<string, string>()
  readonly commands: unknown[][] = []
  fail: Error | undefined
  quitFails = false
  disconnected = false
  readonly options: Record<string, unknown>
  constructor(options: Record<string, unknown>) {
    super()
    this.options = options
  }
  private run<T>(command: unknown[], result: () => T): Promise<T> {
    this.commands.push(command)
    return this.fail ? Promise.reject(this.fail) : Promise.resolve(result())
  }
  set(key: string, value: string, ...args: unknown[]) {
    return this.run(['set', key, value, ...args], () => {
      if (args.includes('NX') && this.values.has(key)) return null
      this.values.set(key, value)
      return 'OK'
    })
  }
  get(key: string) {
    return this.run(['get', key], () => this.values.get(key) ?? null)
  }
  del(key: string) {
    return this.run(['del', key], () => Number(this.values.delete(key)))
  }
  eval(script: string, keys: number, key: string, token: string) {
    return this.run(['eval', script, keys, key, token], () => (this.values.get(key) === token ? Number(this.values.delete(key)) : 0))
  }
  async quit() {
    if (this.quitFails) throw new Error('Connection is closed.')
    this.status = 'end'
  }
  disconnect() {
    this.disconnected = true
  }
}

/** A store on a stand-in client (status `status` at creation), closed with `t`. */
async function storeOn(t: Test, options: Partial<RedisStoreOptions> = {}, status = 'ready') {
  let client!: StandInRedis
  let asked: { options: unknown; onError: unknown } | undefined
  const createRedisClient = (clientOptions: Record<string, unknown>, onError: unknown) => {
    asked = { options: clientOptions, onError }
    client = new StandInRedis(clientOptions)
    client.status = status
    return client
  }
  const { createRedisStore } = await t.mockImport<typeof import('../../../src/session/redis-store.js')>('../../../src/session/redis-store.js', {
    '../../../src/session/redis-connection.js': { createRedisClient },
  })
  const store = createRedisStore({ ring, redis: { host: '10.0.0.5', port: 6380, password: 'pw', db: 2 }, ...options })
  t.teardown(() => store.close())
  return { store, client, asked: asked! }
}

t.test('the client is made by redis-connection.ts from the options, with the error hook', async (t) => {
  const onError = () => {}
  const { asked } = await storeOn(t, { onError })
  t.same(asked.options, { host: '10.0.0.5', port: 6380, password: 'pw', db: 2 })
  t.equal(asked.onError, onError)
})

t.test('a session is stored sealed under a hash of its id, until its absolute end', async (t) => {
  const { store, client } = await storeOn(t, { keyPrefix: 'kf:' })
  const session = makeSession()
  t.equal(await store.save(session, NOW), session.id, 'the ticket is the session id')
  const [command] = client.commands
  t.same(command!.slice(0, 2), ['set', `kf:session:${hash(session.id)}`])
  t.same(command!.slice(3), ['PX', session.expiresAt - NOW], 'the TTL ends at expiresAt')
  const value = command![2] as string
  for (const secret of [session.id, session.idToken, session.refreshToken!, 'user@example.com']) t.notOk(value.includes(secret), 'no plaintext')
  t.strictSame(await store.load(session.id, NOW), session, 'loaded back')
  await store.save(session, session.expiresAt)
  t.same(client.commands.at(-1), ['del', `kf:session:${hash(session.id)}`], 'an expired session is deleted instead')
})

t.test('malformed tickets and ids never reach Redis', async (t) => {
  const { store, client } = await storeOn(t)
  for (const ticket of ['', 'short', `${'x'.repeat(42)}!`]) {
    t.equal(await store.load(ticket, NOW), undefined)
    await store.remove(ticket)
    await t.rejects(store.save(makeSession({ id: ticket }), NOW), TypeError)
  }
  t.same(client.commands, [])
})

t.test('what Redis holds is only trusted as this session, alive', async (t) => {
  const { store, client } = await storeOn(t)
  const [a, b] = [makeSession(), makeSession()]
  t.equal(await store.load(a.id, NOW), undefined, 'nothing stored')
  await store.save(a, NOW)
  client.values.set(`authservice:session:${hash(b.id)}`, client.values.get(`authservice:session:${hash(a.id)}`)!)
  t.equal(await store.load(b.id, NOW), undefined, "a's value copied under b's key")
  client.values.set(`authservice:session:${hash(b.id)}`, await seal({ id: b.id }, ring))
  t.equal(await store.load(b.id, NOW), undefined, 'sealed, but not a session')
  t.equal(await store.load(a.id, a.expiresAt), undefined, 'expired')
  await store.remove(a.id)
  t.equal(client.values.size, 1, 'remove deletes the key')
})

t.test('exclusive: SET NX with a lapse, the work, then a release that deletes only our own lock', async (t) => {
  const { store, client } = await storeOn(t)
  const id = makeSession().id
  const lock = `authservice:lock:${hash(id)}`
  t.equal(await store.exclusive(id, async () => 'done'), 'done')
  const [take, release] = client.commands as [unknown[], unknown[]]
  t.same([take[0], take[1], take[3], take[4], take[5]], ['set', lock, 'PX', 10_000, 'NX'])
  t.same([release[0], release[2], release[3], release[4]], ['eval', 1, lock, take[2]], 'released with the token it was taken with')
  t.match(release[1], /redis\.call\('get', KEYS\[1\]\) == ARGV\[1\]/)
  t.equal(client.values.has(lock), false)

  client.values.set(lock, 'another replica')
  t.equal(await store.exclusive(id, async () => t.fail('not run')), undefined, 'held elsewhere: the work is not run')
  t.equal(client.values.get(lock), 'another replica')
  client.values.clear()
  t.equal(await store.exclusive(id, async () => ((client.fail = new Error('gone')), 'done')), 'done', 'a failed release is harmless')
})

t.test('every command failure is SessionStoreUnavailableError, with its cause, and is reported', async (t) => {
  let reported = 0
  const { store, client } = await storeOn(t, { onCommandError: () => reported++ })
  const cause = new Error('Command timed out')
  client.fail = cause
  const session = makeSession()
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['save', () => store.save(session, NOW)],
    ['load', () => store.load(session.id, NOW)],
    ['remove', () => store.remove(session.id)],
    ['exclusive', () => store.exclusive(session.id, async () => 'x')],
  ]
  for (const [name, call] of calls) {
    await t.rejects(call(), { ...UNAVAILABLE, cause }, name)
  }
  t.equal(reported, calls.length, 'onCommandError is told of each (authservice_session_store_errors_total{kind="command"})')
})

t.test('while a connection is being made, calls wait for it: together, at most 500 ms', async (t) => {
  const { store, client } = await storeOn(t, {}, 'connecting')
  const session = makeSession()
  const loads = [store.load(session.id, NOW), store.load(session.id, NOW)]
  t.equal(client.listenerCount('ready'), 1, 'one wait for every caller')
  client.status = 'ready'
  client.emit('ready')
  t.same(await Promise.all(loads), [undefined, undefined], 'answered once ready')
  t.equal(client.listenerCount('ready'), 0)

  client.status = 'connect'
  const closed = store.load(session.id, NOW)
  client.emit('close')
  await t.rejects(closed, UNAVAILABLE, 'the connection closed instead')

  mock.timers.enable({ apis: ['setTimeout'] })
  t.teardown(() => mock.timers.reset())
  client.status = 'connecting'
  const slow = store.load(session.id, NOW)
  mock.timers.tick(500)
  await t.rejects(slow, UNAVAILABLE, 'not ready within 500 ms')
  t.equal(client.listenerCount('close'), 0, 'no listener left behind')
})

t.test('without a connection attempt in progress, calls fail at once', async (t) => {
  const { store, client } = await storeOn(t, {}, 'reconnecting')
  await t.rejects(store.load(makeSession().id, NOW), UNAVAILABLE)
  t.same(client.commands, [])
})

t.test('close quits, or drops the connection when Redis cannot be told', async (t) => {
  const { store, client } = await storeOn(t)
  await store.close()
  t.equal(client.status, 'end')
  const down = await storeOn(t)
  down.client.quitFails = true
  await down.store.close()
  t.ok(down.client.disconnected, 'disconnected, and no more reconnecting')
})
