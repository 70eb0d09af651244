/**
 * The gRPC server over real loopback HTTP/2: the shared transport table (the same rows the HTTP
 * mode runs), read as Envoy's gRPC ext_authz filter reads a CheckResponse; then what only the
 * server has: its log lines, a bug that cannot even be logged, health following readiness, and
 * close() draining, then forcing after the shutdown timeout (on a mocked timer).
 */
import t, { type Test } from 'tap'
import { mock } from 'node:test'
import { Writable } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { CHECK_FAILED_REPLY, type CheckReply, type HeaderList } from '../../../src/check/respond.js'
import type { CheckRequestMessage } from '../../../src/grpc/messages.js'
import { createGrpcServer, grpcAddress, type GrpcServerDependencies } from '../../../src/grpc/server.js'
import { createLogger } from '../../../src/log/logger.js'
import { envoyCheckRequest, grpcClient, type DecodedCheckResponse, type DecodedHeaderOption } from '../../helpers/grpc.js'
import { runTransportScenarios, type EnvoyOutcome, type ForwardedRequest, type InProcessTransport } from '../../helpers/transport-scenarios.js'

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

/**
 * Envoy's CheckRequest for `request`, headers as with encode_raw_headers: pseudo-headers first, one
 * entry per header line, repeats kept (check-request.ts merges them), and x-forwarded-proto.
 */
function envoyCheck({ method, target, host, scheme, headers }: ForwardedRequest): CheckRequestMessage {
  const lines = [
    [':authority', host],
    [':method', method],
    [':path', target],
    [':scheme', scheme],
    ...Object.entries(headers).flatMap(([name, value]) => [value].flat().map((item) => [name, item] as const)),
    ['x-forwarded-proto', scheme],
  ]
  const headerMap = { headers: lines.map(([key, value]) => ({ key, raw_value: Buffer.from(value!) })) }
  return { attributes: { request: { http: { id: '1', method, path: target, host, scheme, protocol: 'HTTP/1.1', header_map: headerMap } } } }
}

const lineOf = (option: DecodedHeaderOption) => [option.header?.key ?? '', option.header?.value ?? ''] as const
/** The lines added with `action` (absent: the proto default, APPEND_IF_EXISTS_OR_ADD); a line with another action has another effect, so it is left out and its row fails. */
const withAction = (options: DecodedHeaderOption[] = [], action: string): HeaderList =>
  options.filter((option) => (option.append_action ?? 'APPEND_IF_EXISTS_OR_ADD') === action).map(lineOf)

/** What Envoy's gRPC ext_authz filter does with a CheckResponse. */
function envoyOutcome(response: DecodedCheckResponse): EnvoyOutcome {
  // Envoy reads an absent status as code 0, an allow: never acceptable by accident.
  if (response.status === undefined) throw new Error('a CheckResponse without status')
  if ((response.status.code ?? 0) !== 0) {
    const denied = response.denied_response
    return { allowed: false, status: denied?.status?.code ?? 0, headers: (denied?.headers ?? []).map(lineOf), body: denied?.body ?? '' }
  }
  const ok = response.ok_response
  return {
    allowed: true,
    // Identity headers must replace a client's spoofed value.
    upstream: withAction(ok?.headers, 'OVERWRITE_IF_EXISTS_OR_ADD'),
    removed: ok?.headers_to_remove ?? [],
    // Every Set-Cookie must survive.
    toClient: withAction(ok?.response_headers_to_add, 'APPEND_IF_EXISTS_OR_ADD'),
  }
}

const grpcTransport: InProcessTransport = {
  mode: 'grpc',
  async serve(t, handle) {
    const { client } = await serve(t, { handle, logger: createLogger('silent'), isReady: () => true })
    return async (request) => envoyOutcome(await client.check(envoyCheck(request)))
  },
}

t.test('the shared transport table', (t) => runTransportScenarios(t, grpcTransport))

t.test('the server adds no log line to an answered check (the handler logs the decision); a bug is logged once, as an error', async (t) => {
  const { logger, lines } = capture()
  let fail = false
  const handle = async (): Promise<{ reply: CheckReply }> => {
    if (fail) throw new Error('bug in the checker')
    return { reply: CHECK_FAILED_REPLY }
  }
  const { client } = await serve(t, { handle, logger, isReady: () => true })
  await client.check(envoyCheckRequest('GET', '/api/x?y=1', { authorization: 'Bearer t' }))
  t.same(lines(), [], 'nothing for an answered check')
  fail = true
  t.match(await client.check(envoyCheckRequest('GET', '/api/x')), { status: { code: 16 }, denied_response: { status: { code: 401 } } })
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

t.test('close() cuts checks still running after the shutdown timeout (10 s by default)', async (t) => {
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => (arrived = resolve))
  const handle = () => (arrived(), new Promise<{ reply: CheckReply }>(() => {}))
  const server = createGrpcServer({ handle, logger: capture().logger, isReady: () => true })
  const client = grpcClient(await server.listen('127.0.0.1', 0))
  t.teardown(() => client.close())
  const answer = client.check(envoyCheckRequest('GET', '/'))
  await arrival
  // Only close()'s own timer is mocked: the call is already in flight.
  mock.timers.enable({ apis: ['setTimeout'] })
  t.teardown(() => mock.timers.reset())
  let closed = false
  const closing = server.close().then(() => (closed = true))
  mock.timers.tick(9_999)
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(closed, 'still draining 1 ms before the timeout')
  mock.timers.tick(1)
  await closing
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
