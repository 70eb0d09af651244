// The built entry (`npm start` runs `node dist/server.js`): configuration from the environment
// only, every problem reported before listening, and a clean exit 0 on SIGTERM.
import t from 'tap'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { kubeflowEnv } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { grpcClient } from '../helpers/grpc.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { startPeerProcess } from '../helpers/peer-process.js'
import { freePort } from '../helpers/ports.js'
import { answers, waitUntil } from '../helpers/wait.js'

const entry = new URL('../../dist/server.js', import.meta.url).pathname
const built = existsSync(entry) ? false : 'dist/server.js missing: run `npm run build` (npm test does)'
if (built && process.env.CI === 'true') throw new Error(built)

t.test('an invalid configuration stops the process before it listens, naming every variable', { skip: built }, async (t) => {
  const secret = 'do-not-print-this-client-secret'
  const peer = startPeerProcess('authservice', process.execPath, [entry], {
    env: { OIDC_PROVIDER: '', CLIENT_ID: 'kubeflow-oidc-authservice', CLIENT_SECRET: secret, SERVER_PORT: 'eighty', JWT_ALGORITHMS: 'none' },
  })
  const [code] = (await once(peer.child, 'exit')) as [number]
  t.equal(code, 1, 'exit code 1')
  const output = peer.output()
  for (const variable of ['OIDC_PROVIDER', 'SERVER_PORT', 'JWT_ALGORITHMS']) t.match(output, variable, `names ${variable}`)
  t.match(output, /ERR_CONFIG_INVALID/)
  t.notMatch(output, secret, 'the secret is never printed')
})

t.test('it serves checks and probes from the environment and exits 0 on SIGTERM', { skip: built || skipUnlessPeers('dex') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const checkPort = await freePort()
  const opsPort = await freePort()
  const grpcPort = await freePort()
  const peer = startPeerProcess('authservice', process.execPath, [entry], {
    env: {
      ...kubeflowEnv(dex),
      SERVER_HOSTNAME: '127.0.0.1',
      SERVER_PORT: String(checkPort),
      READINESS_PROBE_PORT: String(opsPort),
      GRPC_PORT: String(grpcPort),
    },
  })
  t.teardown(() => peer.stop())
  await waitUntil('ready', () => answers(`http://127.0.0.1:${opsPort}/readyz`), { timeoutMs: 20_000 })
  t.equal((await fetch(`http://127.0.0.1:${opsPort}/healthz`)).status, 200)
  const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text()
  t.match(metrics, /authservice_decisions_total|# HELP authservice_/, 'Prometheus metrics are served')

  const { id_token: token } = await dex.passwordGrant('user@example.com')
  const allowed = await fetch(`http://127.0.0.1:${checkPort}/notebooks`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(allowed.status, 200)
  t.equal(allowed.headers.get('kubeflow-userid'), 'user@example.com')
  t.equal((await fetch(`http://127.0.0.1:${checkPort}/metrics`)).status, 401, 'ops endpoints are not reachable on the check port')
  const grpc = grpcClient(grpcPort)
  t.same(await grpc.health(), { status: 'SERVING' }, 'GRPC_PORT serves the gRPC check and health from the build (protos shipped)')
  grpc.close()

  peer.child.kill('SIGTERM')
  const [code] = (await once(peer.child, 'exit')) as [number]
  t.equal(code, 0, 'exit 0 after draining')
  t.notMatch(peer.output(), token, 'the token never appears in the logs')
  t.match(peer.output(), /"msg":"decision"/, 'decisions are logged as JSON lines')
})

// Issue 15, finding 8: the ops port listened on 0.0.0.0 whatever SERVER_HOSTNAME said.
t.test('READINESS_PROBE_HOSTNAME is where /healthz, /readyz and /metrics listen', { skip: built }, async (t) => {
  const refused = (url: string) => fetch(url).then(() => false, (error: { cause?: { code?: string } }) => error.cause?.code === 'ECONNREFUSED')
  const start = async (env: Record<string, string>) => {
    const ports = { check: await freePort(), ops: await freePort() }
    const peer = startPeerProcess('authservice', process.execPath, [entry], {
      env: {
        ...kubeflowEnv({ issuer: `http://127.0.0.1:${await freePort()}/dex`, clientId: 'kubeflow-oidc-authservice', clientSecret: 'a-client-secret-of-our-own' }),
        SERVER_PORT: String(ports.check),
        READINESS_PROBE_PORT: String(ports.ops),
        ...env,
      },
    })
    t.teardown(() => peer.stop())
    return ports
  }
  const own = await start({ SERVER_HOSTNAME: '127.0.0.1', READINESS_PROBE_HOSTNAME: '127.0.0.2' })
  await waitUntil('the ops port on 127.0.0.2', () => answers(`http://127.0.0.2:${own.ops}/healthz`), { timeoutMs: 20_000 })
  t.ok(await refused(`http://127.0.0.1:${own.ops}/healthz`), 'not on another address (127.0.0.1)')
  t.ok(await refused(`http://127.0.0.2:${own.check}/`), 'while the check stays on SERVER_HOSTNAME')

  const unset = await start({ SERVER_HOSTNAME: '127.0.0.1' })
  await waitUntil('the ops port', () => answers(`http://127.0.0.1:${unset.ops}/healthz`), { timeoutMs: 20_000 })
  t.equal((await fetch(`http://127.0.0.2:${unset.ops}/healthz`)).status, 200, 'unset: every interface, as the image always did')
})
