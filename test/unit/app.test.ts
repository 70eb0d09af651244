/**
 * buildCheckApp and buildOpsApp: the settings the check server needs beyond its route (what the
 * check answers is the shared transport table, test/unit/http/check-route.test.ts) — a bug in the
 * check is logged and denied, fastify writes no request lines, a credential larger than Envoy's
 * header limit still reaches the check, and closing finishes the checks already on a connection.
 */
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildCheckApp, buildOpsApp, MAX_HEADER_BYTES, type CheckAppDependencies } from '../../src/app.js'
import { createLogger } from '../../src/log/logger.js'
import { createMetrics } from '../../src/ops/metrics.js'
import { rawRequest } from '../helpers/raw-request.js'

const ALLOW = { reply: { kind: 'allow', upstreamHeaders: [], removeHeaders: [], responseHeaders: [] }, outcome: 'allow', reason: 'TEST' } as const

function capture() {
  let raw = ''
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((raw += chunk.toString()), done()) }))
  return { logger, lines: () => raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) }
}

/** The check app on loopback (the real http server, not inject); closed with `t` unless the test closes it. */
async function listening(t: Test, handle: CheckAppDependencies['handle']): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const app = buildCheckApp({ logger: createLogger('silent'), handle })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  return { app, url: `http://127.0.0.1:${port}`, port }
}

t.test('a bug in the check is logged as an error, without a request id, and answered 401', async (t) => {
  const { logger, lines } = capture()
  const app = buildCheckApp({
    logger,
    handle: async () => {
      throw new Error('bug in the checker')
    },
  })
  t.teardown(() => app.close())
  const response = await app.inject({ method: 'GET', url: '/api/x' })
  t.equal(response.statusCode, 401)
  t.match(response.headers['www-authenticate'], /^Bearer /)
  const [line, ...rest] = lines()
  t.match(line, { level: 50, msg: 'check failed; denying', err: { message: 'bug in the checker' } })
  t.notOk(line && 'reqId' in line, 'no per-request child logger')
  t.same(rest, [], 'one line')
})

t.test('fastify writes no request lines on either app: the check logs one decision line of its own', async (t) => {
  const { logger, lines } = capture()
  const checkApp = buildCheckApp({ logger, handle: async () => ALLOW })
  const opsApp = buildOpsApp({ logger, metrics: createMetrics({ defaultMetrics: false }), isReady: () => true })
  t.teardown(() => Promise.all([checkApp.close(), opsApp.close()]))
  t.equal((await checkApp.inject({ method: 'GET', url: '/notebook/' })).statusCode, 200)
  t.equal((await opsApp.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'the ops app serves the probes')
  t.equal((await opsApp.inject({ method: 'GET', url: '/nowhere' })).statusCode, 404)
  t.same(lines(), [])
})

t.test('a credential header over Envoy\'s 60 KiB default reaches the check; one over MAX_HEADER_BYTES is refused by the server', async (t) => {
  let checked = 0
  const { url } = await listening(t, async () => (checked++, ALLOW))
  const large = await rawRequest(`${url}/api/x`, { headers: { authorization: `Bearer ${'a'.repeat(80 * 1024)}` } })
  t.equal(large.status, 200, '80 KiB: answered by the check (Envoy would have sent it on; a dropped connection is a bare 403)')
  const huge = await rawRequest(`${url}/api/x`, { headers: { authorization: `Bearer ${'a'.repeat(MAX_HEADER_BYTES)}` } })
  t.equal(huge.status, 431, `over ${MAX_HEADER_BYTES} bytes: Node's own refusal`)
  t.equal(checked, 1)
})

t.test('closing answers the checks still arriving on an open connection instead of 503 (Envoy\'s bare 403)', { timeout: 10_000 }, async (t) => {
  let arrived!: () => void
  const arrival = new Promise<void>((resolve) => (arrived = resolve))
  let secondChecked!: () => void
  const second = new Promise<void>((resolve) => (secondChecked = resolve))
  const { app, port } = await listening(t, async (request) => {
    if (request.target === '/first') {
      arrived()
      // Held until the second check is being decided (with a 503 on closing, it never would be).
      await second
    } else secondChecked()
    return ALLOW
  })
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()))
  const ended = new Promise((resolve) => socket.on('close', resolve))
  socket.write('GET /first HTTP/1.1\r\nhost: a\r\n\r\n')
  await arrival
  const closed = app.close()
  // A second check on the same connection while the server is closing (Envoy reuses its connections).
  socket.write('GET /second HTTP/1.1\r\nhost: a\r\n\r\n')
  await closed
  await ended
  t.same(received.match(/^HTTP\/1\.1 \d+/gm), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'both answered by the check')
})
