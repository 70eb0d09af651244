// Smoke test: Debian's redis-server starts on an ephemeral loopback port and answers.
import t from 'tap'
import { peerVersion, skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'

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
