// Smoke tests: Debian's redis-server and redis-sentinel start on ephemeral loopback ports and answer.
import t from 'tap'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'
import { masterPortOf, startSentinel } from '../helpers/redis-sentinel.js'

t.test('redis-server answers PING and can be restarted on its port', { skip: skipUnlessPeers('redis') }, async (t) => {
  t.comment(`redis ${peerVersion('redis')}`)
  const redis = await startRedis()
  t.teardown(() => redis.close())
  t.equal(await redis.command('PING'), '+PONG')
  await redis.stop()
  await t.rejects(redis.command('PING'), 'nothing answers while it is stopped')
  await redis.start()
  t.equal(await redis.command('PING'), '+PONG', 'it answers again on the same port')
})

t.test('redis-sentinel watches a master on an ephemeral port and names it', { skip: skipUnlessPeers('redis', 'redis-sentinel') }, async (t) => {
  t.comment(`redis-sentinel ${peerVersion('redis-sentinel')}`)
  const master = await startRedis()
  t.teardown(() => master.close())
  const sentinel = await startSentinel({ masterPort: master.port })
  t.teardown(() => sentinel.close())
  t.equal(await masterPortOf(sentinel), master.port, 'SENTINEL get-master-addr-by-name answers with the master')
})
