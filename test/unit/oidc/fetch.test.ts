/** createFetchWithCa: the outbound fetch that trusts CA_BUNDLE on top of the system roots, over https and plain http. */
import { execFileSync } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { createFetchWithCa } from '../../../src/oidc/fetch.js'

/** A self-signed certificate for 127.0.0.1, made with openssl. */
function selfSigned(name: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fetch-test-'))
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
        '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    )
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

type Handler = (request: IncomingMessage, body: string, response: ServerResponse) => void

/** Answers every request with JSON describing what it received, unless a path-specific handler exists. */
const routes: Record<string, Handler> = {
  '/no-content': (_request, _body, response) => {
    response.writeHead(204)
    response.end()
  },
  '/not-modified': (_request, _body, response) => {
    response.writeHead(304, { etag: '"1"' })
    response.end()
  },
  '/cookies': (_request, _body, response) => {
    response.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/'])
    response.writeHead(200, { 'content-type': 'text/plain' })
    response.end('two cookies')
  },
  '/truncated': (request, _body, response) => {
    // Promise 100 bytes, send 5, then drop the connection: the response stream errors.
    response.writeHead(200, { 'content-length': '100' })
    response.write('hello', () => request.socket.destroy())
  },
  '/hang': () => undefined,
}

const echo: Handler = (request, body, response) => {
  response.writeHead(201, { 'content-type': 'application/json', 'x-answer': 'yes' })
  response.end(JSON.stringify({ method: request.method, url: request.url, headers: request.headers, body }))
}

function handle(request: IncomingMessage, response: ServerResponse) {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => (routes[request.url ?? ''] ?? echo)(request, Buffer.concat(chunks).toString('utf8'), response))
}

async function listen(t: { teardown(fn: () => Promise<void>): void }, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return (server.address() as AddressInfo).port
}

const trusted = selfSigned('authservice-test-ca')
const untrusted = selfSigned('some-other-ca')

t.test('over https', async (t) => {
  const port = await listen(t, createHttpsServer({ cert: trusted.cert, key: trusted.key }, handle))
  const base = `https://127.0.0.1:${port}`

  t.test('trusts a server whose certificate is the extra CA, and sends method, headers and body', async (t) => {
    const fetch = createFetchWithCa(trusted.cert)
    const response = await fetch(`${base}/token?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Basic abc' },
      body: 'grant_type=authorization_code',
    })
    t.equal(response.status, 201)
    t.equal(response.headers.get('x-answer'), 'yes')
    const seen = (await response.json()) as { method: string; url: string; headers: Record<string, string>; body: string }
    t.equal(seen.method, 'POST')
    t.equal(seen.url, '/token?x=1')
    t.equal(seen.headers.authorization, 'Basic abc')
    t.equal(seen.headers['content-type'], 'application/x-www-form-urlencoded')
    t.equal(seen.body, 'grant_type=authorization_code')
  })

  t.test('refuses a server whose certificate is neither the extra CA nor a system root', async (t) => {
    const fetch = createFetchWithCa(untrusted.cert)
    await t.rejects(fetch(`${base}/`), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  })
})

t.test('over plain http', async (t) => {
  const port = await listen(t, createHttpServer(handle))
  const base = `http://127.0.0.1:${port}`
  // The CA is irrelevant to plain http; an unrelated one proves it is not consulted.
  const fetch = createFetchWithCa(untrusted.cert)

  t.test('without init it sends a GET with no body', async (t) => {
    const response = await fetch(`${base}/.well-known/openid-configuration`)
    t.equal(response.status, 201)
    const seen = (await response.json()) as { method: string; url: string; body: string }
    t.match(seen, { method: 'GET', url: '/.well-known/openid-configuration', body: '' }, 'GET without body')
  })

  t.test('keeps every value of a repeated response header', async (t) => {
    const response = await fetch(`${base}/cookies`)
    t.same(response.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/'])
    t.equal(await response.text(), 'two cookies')
  })

  t.test('a 204 answer has no body', async (t) => {
    const response = await fetch(`${base}/no-content`)
    t.equal(response.status, 204)
    t.equal(response.body, null)
  })

  t.test('a 304 answer has no body and keeps its headers', async (t) => {
    const response = await fetch(`${base}/not-modified`)
    t.equal(response.status, 304)
    t.equal(response.body, null)
    t.equal(response.headers.get('etag'), '"1"')
  })

  t.test('rejects when the connection drops in the middle of the body', async (t) => {
    await t.rejects(fetch(`${base}/truncated`), { code: 'ECONNRESET' })
  })

  t.test('rejects when the signal aborts', async (t) => {
    const controller = new AbortController()
    const pending = fetch(`${base}/hang`, { signal: controller.signal })
    controller.abort()
    await t.rejects(pending, { name: 'AbortError' })
  })
})

t.test('rejects when nothing listens', async (t) => {
  const server = createHttpServer()
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  )
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await t.rejects(createFetchWithCa(trusted.cert)(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' })
})

t.test('a response without a status code or with an empty header value still becomes a Response', async (t) => {
  // node:http always fills both in; the fallbacks are defensive, so a fake transport exercises them.
  const fakeRequest = (_target: URL, _options: unknown, onResponse: (response: EventEmitter) => void) => {
    const request = new EventEmitter() as EventEmitter & { end: (body?: string) => void }
    request.end = () => {
      const response = Object.assign(new EventEmitter(), { headers: { 'x-empty': undefined, 'x-one': 'one' }, statusCode: undefined })
      onResponse(response)
      response.emit('data', Buffer.from('gateway'))
      response.emit('end')
    }
    return request
  }
  const { createFetchWithCa: mockedFetch } = await t.mockImport<typeof import('../../../src/oidc/fetch.js')>(
    '../../../src/oidc/fetch.js',
    { 'node:http': { request: fakeRequest } },
  )
  const response = await mockedFetch(trusted.cert)('http://127.0.0.1:1/')
  t.equal(response.status, 502, 'a missing status code counts as a bad gateway')
  t.equal(response.headers.get('x-one'), 'one')
  t.equal(response.headers.has('x-empty'), false, 'a header without value is left out')
  t.equal(await response.text(), 'gateway')
})
