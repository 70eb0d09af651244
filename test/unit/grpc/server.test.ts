/**
 * The gRPC server over real loopback HTTP/2: Check answers with the shared handler's reply, a bug
 * is a logged 401 deny and never an RPC error, health follows readiness, and close() drains then
 * forces.
 */
import t, { type Test } from 'tap'
import { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { Decision } from '../../../src/authz/decision.js'
import { createReplyBuilder, type CheckReply } from '../../../src/authz/reply.js'
import type { GrpcCheckRequest } from '../../../src/grpc/check-request.js'
import { CHECK_FAILED_REPLY, createGrpcServer, grpcAddress, type GrpcServerDependencies } from '../../../src/grpc/server.js'
import { createLogger } from '../../../src/log/logger.js'
import { envoyCheckRequest, grpcClient } from '../../helpers/grpc.js'

const identity = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token' }
const ALLOW: Decision = { outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity, via: 'authorization' }
const reply = createReplyBuilder({ userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', setAuthorizationHeader: false, retryAfterSeconds: 5 })

function capture() {
  let raw = ''
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((raw += chunk.toString()), done()) }))
  return { logger, lines: () => raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) }
}

async function serve(t: Test, deps: GrpcServerDependencies) {
  const server = createGrpcServer(deps)
  const port = await server.listen('127.0.0.1', 0)
  const client = grpcClient(port)
  t.teardown(async () => {
    client.close()
    await server.close()
  })
  return { server, port, client }
}

t.test('Check hands Envoy\'s request to the shared handler and answers with its reply', async (t) => {
  const { logger, lines } = capture()
  const handled: GrpcCheckRequest[] = []
  const handle = async (request: GrpcCheckRequest) => (handled.push(request), { reply: reply(ALLOW) })
  const { client } = await serve(t, { handle, logger, isReady: () => true })

  const response = await client.check(envoyCheckRequest('GET', '/api/x?y=1', { authorization: 'Bearer t', 'kubeflow-userid': 'attacker' }))
  t.match(response, {
    status: { code: 0 },
    ok_response: {
      headers: [
        { header: { key: 'kubeflow-userid', value: 'alice@example.com' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'kubeflow-groups', value: 'team-a' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
    },
  })
  t.match(handled, [{ method: 'GET', target: '/api/x?y=1', scheme: 'http', headers: { authorization: 'Bearer t', host: 'kubeflow.example.com' } }])
  t.same(lines(), [], 'the handler logs the decision; the server adds no second line')
})

t.test('a deny keeps its status, every header and its body', async (t) => {
  const deny: CheckReply = { kind: 'deny', status: 302, headers: [['location', '/dex/auth'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']], body: '' }
  const { client } = await serve(t, { handle: async () => ({ reply: deny }), logger: capture().logger, isReady: () => true })
  t.match(await client.check(envoyCheckRequest('GET', '/')), {
    status: { code: 16 },
    denied_response: { status: { code: 302 }, headers: [{ header: { value: '/dex/auth' } }, { header: { value: 'a=1' } }, { header: { value: 'b=2' } }] },
  })
})

t.test('a bug in the check is a logged 401 deny, never an RPC error (which fail-open Envoy would allow)', async (t) => {
  const { logger, lines } = capture()
  const handle = async (): Promise<{ reply: CheckReply }> => {
    throw new Error('bug in the checker')
  }
  const { client } = await serve(t, { handle, logger, isReady: () => true })
  const response = await client.check(envoyCheckRequest('GET', '/api/x'))
  t.match(response, {
    status: { code: 16 },
    denied_response: { status: { code: 401 }, body: CHECK_FAILED_REPLY.kind === 'deny' ? CHECK_FAILED_REPLY.body : '' },
  })
  t.match(
    response.denied_response?.headers?.map((option) => option.header?.key),
    ['content-type', 'cache-control', 'www-authenticate'],
  )
  t.match(lines(), [{ level: 50, transport: 'grpc', msg: 'check failed; denying', err: { message: 'bug in the checker' } }])
})

t.test('even when logging the bug fails, the answer is the 401 deny', async (t) => {
  const broken = {
    info() {},
    error() {
      throw new Error('log sink gone')
    },
  }
  const logger = { child: () => broken } as unknown as FastifyBaseLogger
  const handle = async (): Promise<{ reply: CheckReply }> => {
    throw new Error('bug')
  }
  const { client } = await serve(t, { handle, logger, isReady: () => true })
  t.match(await client.check(envoyCheckRequest('GET', '/')), { status: { code: 16 }, denied_response: { status: { code: 401 } } })
})

t.test('health follows readiness; unknown services are NOT_FOUND', async (t) => {
  let ready = false
  const { client } = await serve(t, { handle: async () => ({ reply: CHECK_FAILED_REPLY }), logger: capture().logger, isReady: () => ready })
  t.same(await client.health(), { status: 'NOT_SERVING' })
  ready = true
  t.same(await client.health(), { status: 'SERVING' })
  t.same(await client.health('envoy.service.auth.v3.Authorization'), { status: 'SERVING' })
  await t.rejects(client.health('nope'), { code: 5 })
})

t.test('close() lets an in-flight check finish', async (t) => {
  let release!: () => void
  const started = new Promise<void>((resolve) => {
    release = resolve
  })
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => (arrived = resolve))
  const handle = async () => {
    arrived()
    await started
    return { reply: CHECK_FAILED_REPLY }
  }
  const server = createGrpcServer({ handle, logger: capture().logger, isReady: () => true })
  const client = grpcClient(await server.listen('127.0.0.1', 0))
  t.teardown(() => client.close())
  const answer = client.check(envoyCheckRequest('GET', '/'))
  await arrival
  const closed = server.close()
  release()
  t.match(await answer, { status: { code: 16 } }, 'the in-flight check got its answer')
  await closed
})

t.test('close() cuts checks still running after the shutdown timeout', async (t) => {
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => (arrived = resolve))
  const handle = () => (arrived(), new Promise<{ reply: CheckReply }>(() => {}))
  const server = createGrpcServer({ handle, logger: capture().logger, isReady: () => true, shutdownTimeoutMs: 100 })
  const client = grpcClient(await server.listen('127.0.0.1', 0))
  t.teardown(() => client.close())
  const answer = client.check(envoyCheckRequest('GET', '/'))
  await arrival
  const started = Date.now()
  await server.close()
  t.ok(Date.now() - started >= 90, 'waited for the timeout')
  await t.rejects(answer, 'the stuck call was cut (Envoy fails it closed)')
})

t.test('listen() reports an address it cannot bind', async (t) => {
  const server = createGrpcServer({ handle: async () => ({ reply: CHECK_FAILED_REPLY }), logger: capture().logger, isReady: () => true })
  t.teardown(() => server.close())
  await t.rejects(server.listen('256.256.256.256', 0))
})

t.test('IPv6 literals are bracketed in the bind address', async (t) => {
  t.equal(grpcAddress('::', 9000), '[::]:9000')
  t.equal(grpcAddress('[::1]', 9000), '[::1]:9000')
  t.equal(grpcAddress('0.0.0.0', 9000), '0.0.0.0:9000')
})
