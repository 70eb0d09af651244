/** The SESSION_STORE_REDIS_* settings as connection options, checked at startup without loading ioredis. */
import t from 'tap'
import { NO_REDIS } from '../../fixtures/config.js'

const SETTINGS = NO_REDIS // no address yet: each case sets its own

t.test('redisConnectionOptions: the SESSION_STORE_REDIS_* settings as connection options', async (t) => {
  const { redisConnectionOptions } = await import('../../../src/session/redis-address.js')
  t.same(redisConnectionOptions({ ...SETTINGS, redisAddr: 'redis.auth:6379', redisPassword: 'pw', redisDb: 3 }), {
    username: undefined, password: 'pw', db: 3, tls: undefined, host: 'redis.auth', port: 6379,
  })
  t.same(
    redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s1:26379', '[::1]:26380'], redisSentinelMasterName: 'mymaster', redisSentinelPassword: 'spw', redisUsername: 'u', redisPassword: 'pw', redisTls: true }),
    {
      username: 'u', password: 'pw', db: 0, tls: { ca: undefined },
      sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], masterName: 'mymaster', sentinelPassword: 'spw',
    },
  )
  t.same(redisConnectionOptions({ ...SETTINGS, redisClusterAddrs: ['n1:7000'], redisTls: true, redisCaBundle: 'PEM' }), {
    username: undefined, password: undefined, db: 0, tls: { ca: 'PEM' }, cluster: [{ host: 'n1', port: 7000 }],
  })
  t.match(redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s:1'] }), { masterName: '' }, 'load.ts refuses a missing name first')
  t.throws(() => redisConnectionOptions({ ...SETTINGS, redisClusterAddrs: ['n1'] }), {
    code: 'ERR_CONFIG_INVALID',
    problems: ['SESSION_STORE_REDIS_CLUSTER_ADDRS: must be host:port with a port from 1 to 65535'],
  })
  t.throws(() => redisConnectionOptions({ ...SETTINGS, redisSentinelAddrs: ['s:0'], redisSentinelMasterName: 'm' }), {
    code: 'ERR_CONFIG_INVALID',
    problems: ['SESSION_STORE_REDIS_SENTINEL_ADDRS: must be host:port with a port from 1 to 65535'],
  })
  t.throws(() => redisConnectionOptions(SETTINGS), { code: 'ERR_CONFIG_INVALID', problems: ['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'] })
})

t.test('parseRedisAddress', async (t) => {
  const { parseRedisAddress } = await import('../../../src/session/redis-address.js')
  t.strictSame(parseRedisAddress('redis.auth.svc.cluster.local:6379'), { host: 'redis.auth.svc.cluster.local', port: 6379 })
  t.strictSame(parseRedisAddress('10.0.0.7:1'), { host: '10.0.0.7', port: 1 })
  t.strictSame(parseRedisAddress('[::1]:65535'), { host: '::1', port: 65535 }, 'IPv6 without its brackets')
  t.throws(() => parseRedisAddress('::1:6379'), { code: 'ERR_CONFIG_INVALID' }, 'IPv6 needs brackets')
  for (const address of [undefined, '', 'redis', 'redis:', ':6379', 'redis:0', 'redis:65536', 'a b:1', 'redis://x:1']) {
    t.throws(() => parseRedisAddress(address), { code: 'ERR_CONFIG_INVALID', problems: ['SESSION_STORE_REDIS_ADDR: must be host:port with a port from 1 to 65535'] }, String(address))
  }
})
