// Dex rotating its signing key under traffic (keysRotationPeriod 5s; Dex rotates on its 30 s tick):
// a bounded loop of checks through real Envoy, each with a token freshly minted by Dex, keeps
// running across the rotation — no valid request is refused, tokens signed before the rotation
// keep verifying, and the new key is fetched once, on its first token.
import t from 'tap'
import { startAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, faultEnv, kidOf, startFaultGateway } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { countBy, runWorkers, send, statusKey } from '../helpers/traffic.js'

const USERS = [
  ['user@example.com', '15841185641784'],
  ['alice@example.com', 'alice'],
  ['bob@example.org', 'bob'],
] as const

t.test('Dex key rotation under traffic: no valid request refused', { skip: skipUnlessPeers('dex', 'envoy') }, async (t) => {
  const dex = await startDex({ keysRotationPeriod: '5s' })
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const authservice = await startAuthservice(faultEnv(dex))
  t.teardown(() => authservice.close())
  const { envoy } = await startFaultGateway(t, 'http', authservice, { upstreamPort: upstream.port })

  const first = (await dex.passwordGrant('user@example.com')).id_token
  const firstKid = kidOf(first)
  let rotatedAt = Number.POSITIVE_INFINITY
  let checksAfterRotation = 0
  const results = await runWorkers(
    2,
    // Dex's first rotation comes about 30 s after its start; keep going 40 checks past it.
    // Paced until then (each check mints a token: Dex's bcrypt costs CPU), then as fast as it goes.
    { maxMs: 80_000, maxPerWorker: 2_000, stop: () => checksAfterRotation >= 40 },
    async (worker, i) => {
      const [email] = USERS[worker % USERS.length]!
      const token = (await dex.passwordGrant(email)).id_token
      const kid = kidOf(token)
      if (kid !== firstKid) rotatedAt = Math.min(rotatedAt, Date.now())
      // Every few rounds, also a token signed before the rotation (Dex keeps the old key for verification).
      const useOld = i % 5 === 4
      const answer = await send(`${envoy.url}/api/rotation/${worker}/${i}`, {
        headers: { ...API, authorization: `Bearer ${useOld ? first : token}` },
        timeoutMs: 8_000,
      })
      if (kid !== firstKid) checksAfterRotation++
      else await new Promise((resolve) => setTimeout(resolve, 500))
      const user = answer.status === 200 ? (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] : undefined
      return { answer, kid, expected: useOld ? 'user@example.com' : email, user }
    },
  )
  const kids = new Set(results.map((result) => result.kid))
  t.comment(`${results.length} checks, ${checksAfterRotation} with tokens of the new key; statuses ${JSON.stringify(countBy(results, (result) => statusKey(result.answer)))}`)
  t.ok(kids.size >= 2, `Dex rotated its key during the run (${kids.size} kids seen)`)
  t.ok(checksAfterRotation >= 40, 'traffic continued past the rotation')
  t.same(
    results.filter((result) => result.answer.status !== 200).map((result) => `${statusKey(result.answer)} ${result.answer.header('www-authenticate') ?? ''} kid=${result.kid.slice(0, 8)}`),
    [],
    'every check was allowed, before, during and after the rotation',
  )
  t.ok(results.every((result) => result.user === result.expected), 'each as the user of its token')
  const unknownKid = authservice.logs().filter((line) => Array.isArray(line.codes) && (line.codes as string[]).includes('ERR_TOKEN_UNKNOWN_KEY'))
  t.equal(unknownKid.length, 0, 'no token was refused for an unknown key')
  t.equal((await envoy.extAuthzStats()).error ?? 0, 0, 'Envoy counted no failed check')
})
