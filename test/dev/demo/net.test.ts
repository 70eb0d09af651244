// Listening and probing on 127.0.0.1 for the demo's servers.
import t from 'tap'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import { close, HOST, listen, probePort } from '../../../dev/demo/net.js'

t.test('listen binds 127.0.0.1 (0 = a free port) and close ends open connections', async (t) => {
  const server = createServer((_req, res) => res.end('ok'))
  const port = await listen(server, 0)
  t.ok(port > 0)
  t.equal((await (await fetch(`http://${HOST}:${port}/`)).text()), 'ok')
  const idle = connect(port, HOST)
  await new Promise((resolve) => idle.once('connect', resolve))
  await close(server)
  t.equal(server.listening, false, 'closed although a connection was open')
  idle.destroy()
})

t.test('listen rejects when the port is taken', async (t) => {
  const first = createServer()
  const port = await listen(first, 0)
  t.teardown(() => close(first))
  await t.rejects(listen(createServer(), port), { code: 'EADDRINUSE' })
})

t.test('probePort: a free port, 0 for any, and the code of a taken one', async (t) => {
  const any = await probePort(0)
  t.ok(any.ok && any.port > 0)
  if (!any.ok) return
  t.same(await probePort(any.port), { ok: true, port: any.port }, 'released after the probe')
  const holder = createServer()
  await listen(holder, any.port)
  t.teardown(() => close(holder))
  t.same(await probePort(any.port), { ok: false, code: 'EADDRINUSE' })
})
