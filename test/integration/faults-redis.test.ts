// The redis session store losing Redis under traffic, through real Envoy: while Redis is down a
// check with a session fails closed and says so (401 + Retry-After, never a 5xx, a hang or a login
// loop), bearer JWTs (no Redis needed) keep working, the process neither crashes nor leaks an
// unhandled rejection — and when Redis returns the same session works again, by itself.
import t from 'tap'
import { startAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, NAVIGATE, completeCallback, faultEnv, loginUntilCallback, startFaultGateway } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startRedis } from '../helpers/redis.js'
import { scriptedLogin } from '../helpers/scripted-login.js'
import { countBy, runWorkers, send, statusKey, watchUnhandledRejections, type Answer } from '../helpers/traffic.js'
import { waitUntil } from '../helpers/wait.js'

type Phase = 'up' | 'stopping' | 'down' | 'starting' | 'recovering' | 'up-again' | 'done'

t.test('redis store: Redis stopped and restarted under traffic', { skip: skipUnlessPeers('dex', 'envoy', 'redis') }, async (t) => {
  const unhandled = watchUnhandledRejections()
  t.teardown(() => unhandled.stop())
  const redis = await startRedis({ persist: true })
  t.teardown(() => redis.close())
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const authservice = await startAuthservice(faultEnv(dex, { SESSION_STORE_TYPE: 'redis', SESSION_STORE_REDIS_ADDR: redis.address }))
  t.teardown(() => authservice.close())
  const { envoy } = await startFaultGateway(t, 'http', authservice, { upstreamPort: upstream.port, dexPort: dex.port })
  const url = envoy.url

  const login = await scriptedLogin(url, '/', 'alice@example.com', 'alice-password')
  t.equal(login.final.status, 200, 'logged in with the redis store')
  const cookie = login.jar.header()
  const { id_token: bearer } = await dex.passwordGrant('bob@example.org')
  const pending = await loginUntilCallback(url, '/during-outage', 'user@example.com', '12341234')

  let phase: Phase = 'up'
  const seen = (wanted: Phase) => answers.filter((entry) => entry.from === wanted && entry.to === wanted).length
  const answers: Array<{ from: Phase; to: Phase; answer: Answer }> = []
  const traffic = runWorkers(4, { maxMs: 60_000, maxPerWorker: 3_000, stop: () => phase === 'done' }, async (worker, i) => {
    const from = phase
    const answer = await send(`${url}/api/traffic/${worker}/${i}`, { headers: { ...API, cookie }, timeoutMs: 8_000 })
    answers.push({ from, to: phase, answer })
    await new Promise((resolve) => setTimeout(resolve, 10)) // a steady stream, not a busy loop
    return answer
  })
  const enough = (wanted: Phase) => waitUntil(`20 checks while Redis is ${wanted}`, async () => seen(wanted) >= 20, { timeoutMs: 20_000, intervalMs: 20 })

  await enough('up')
  phase = 'stopping'
  await redis.stop()
  phase = 'down'
  await enough('down')

  const [api, navigation, asBearer, callback, logout] = await Promise.all([
    send(`${url}/api/x`, { headers: { ...API, cookie } }),
    send(`${url}/notebooks/`, { headers: { ...NAVIGATE, cookie } }),
    send(`${url}/api/x`, { headers: { ...API, authorization: `Bearer ${bearer}` } }),
    completeCallback(url, pending),
    send(`${url}/authservice/logout`, { method: 'POST', headers: { ...API, cookie } }),
  ])
  t.equal(api.status, 401, 'an API call with a session: 401')
  t.equal(api.header('retry-after'), '5', 'with Retry-After')
  t.match(JSON.parse(api.body), { error: 'identity_provider_unavailable' }, 'and a body that says to try again')
  t.ok(api.ms < 2_000, `fast: Redis being down fails at once, not after a hang (${api.ms} ms)`)
  t.equal(navigation.status, 401, 'a navigation with a session: the try-again page, not a login redirect (no loop)')
  t.match(navigation.body, /http-equiv="refresh"/)
  t.notOk(navigation.setCookies().some((line) => /^authservice_session=;/.test(line)), 'the session cookie is kept for when Redis returns')
  t.equal(asBearer.status, 200, 'a bearer JWT needs no Redis')
  t.equal(callback.status, 401, 'a login finishing during the outage: the try-again page')
  t.equal(callback.header('retry-after'), '5')
  t.equal(logout.status, 401, 'a logout during the outage: refused, so the client knows the session was not ended')
  t.equal(logout.header('retry-after'), '5')
  t.equal((await send(`${authservice.opsUrl}/healthz`)).status, 200, 'the process is alive')

  phase = 'starting'
  await redis.start()
  phase = 'recovering'
  await waitUntil('the session to work again', async () => (await send(`${url}/api/probe`, { headers: { ...API, cookie } })).status === 200, { timeoutMs: 15_000, intervalMs: 100 })
  phase = 'up-again'
  await enough('up-again')
  phase = 'done'
  const all = await traffic

  const byPhase = (wanted: Phase) => answers.filter((entry) => entry.from === wanted && entry.to === wanted).map((entry) => entry.answer)
  t.comment(`answers by phase: ${JSON.stringify(Object.fromEntries((['up', 'down', 'recovering', 'up-again'] as const).map((p) => [p, countBy(byPhase(p), statusKey)])))}`)
  t.same(countBy(byPhase('up'), statusKey), { '200': byPhase('up').length }, 'Redis up: every check allowed')
  t.same(countBy(byPhase('down'), statusKey), { '401': byPhase('down').length }, 'Redis down: every check 401 (fail closed)')
  t.ok(byPhase('down').every((answer) => answer.header('retry-after') === '5'), 'each with Retry-After')
  t.same(countBy(byPhase('up-again'), statusKey), { '200': byPhase('up-again').length }, 'Redis back: every check allowed again, same session')
  t.same(all.filter((answer) => ![200, 401].includes(answer.status)).map(statusKey), [], 'nothing but 200 or 401 in any phase: no 5xx, no bare 403, no hang')
  t.ok(
    all.filter((answer) => answer.status === 200).every((answer) => (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] === 'alice@example.com'),
    'every allowed check was alice',
  )
  t.equal((await envoy.extAuthzStats()).error ?? 0, 0, 'Envoy counted no failed check')
  t.same(unhandled.reasons, [], 'no unhandled rejection')
  t.equal((await send(`${authservice.opsUrl}/healthz`)).status, 200, 'still alive')
})
