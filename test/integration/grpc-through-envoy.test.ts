// The gRPC ext_authz mode through real Envoy (grpc_service, envoy.service.auth.v3.Authorization)
// with tokens minted by real Dex: the shared scenario table, plus what only gRPC has — the health
// service, and the proof that an empty CheckResponse would have been an allow.
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import type { CheckRequest } from '../../src/check/pipeline.js'
import type { CheckReply } from '../../src/check/respond.js'
import { createGrpcServer } from '../../src/grpc/server.js'
import { createLogger } from '../../src/log/logger.js'
import type { Service } from '../../src/service.js'
import { kubeflowEnv, startAuthservice } from '../helpers/authservice.js'
import { runCheckScenarios, type CheckTransport } from '../helpers/check-scenarios.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream } from '../helpers/echo-upstream.js'
import { startEnvoy } from '../helpers/envoy.js'
import { grpcClient, startStubAuthorizationServer } from '../helpers/grpc.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { freePort } from '../helpers/ports.js'

const skip = skipUnlessPeers('dex', 'envoy')

/** Every line the gRPC servers of this file logged. */
let logText = ''
const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((logText += chunk.toString()), done()) }))

async function serveGrpc(t: Test, service: Service, stub?: (request: CheckRequest) => CheckReply): Promise<number> {
  const server = createGrpcServer({
    ...(stub ? { handle: async (request: CheckRequest) => ({ reply: stub(request) }) } : { handle: service.handle }),
    logger,
    isReady: () => service.isReady(),
    shutdownTimeoutMs: 2_000,
  })
  t.teardown(() => server.close())
  return server.listen('127.0.0.1', 0)
}

const grpcTransport: CheckTransport = { mode: 'grpc', serve: serveGrpc }

t.test('the check through real Envoy (gRPC) and Dex', { skip }, async (t) => {
  await runCheckScenarios(t, grpcTransport)
  t.notMatch(logText, /check failed/, 'no check ended in the fail-closed path')
})

t.test('health: SERVING once the provider\'s keys are loaded, NOT_SERVING while it is unreachable', { skip }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  for (const [name, env, waitReady, expected] of [
    ['provider up', kubeflowEnv(dex), true, 'SERVING'],
    ['provider down', { ...kubeflowEnv(dex), OIDC_PROVIDER: `http://127.0.0.1:${await freePort()}/dex` }, false, 'NOT_SERVING'],
  ] as const) {
    const authservice = await startAuthservice({ ...env }, { waitReady })
    t.teardown(() => authservice.close())
    const client = grpcClient(await serveGrpc(t, authservice.service))
    t.teardown(() => client.close())
    t.same(await client.health(), { status: expected }, name)
    t.same(await client.health('envoy.service.auth.v3.Authorization'), { status: expected }, `${name}, asked by service name`)
  }
})

t.test('why status is always set: Envoy lets an empty CheckResponse through, and denies code 7 without a body', { skip }, async (t) => {
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  for (const [response, expected] of [
    [{}, 200],
    [{ status: { code: 7 } }, 403],
  ] as const) {
    const stub = await startStubAuthorizationServer(response)
    t.teardown(() => stub.close())
    const envoy = await startEnvoy({ authz: { mode: 'grpc', port: stub.port }, upstreamPort: upstream.port })
    t.teardown(() => envoy.stop())
    const answer = await fetch(`${envoy.url}/api/x`)
    t.equal(answer.status, expected, `${JSON.stringify(response)} → ${expected}`)
    await answer.arrayBuffer()
  }
})
