// The demo's built-in development gateway follows Envoy's ext_authz HTTP contract: the check gets
// the allow-listed headers and no body; a 200 sends the request on with the check's identity
// headers (and without the ones it removes); anything else goes back to the client as answered.
import t, { type Test } from 'tap'
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { normalisePath, routesToIdp, startDevGateway, type DevGatewayOptions } from '../../../dev/demo/dev-gateway.js'

interface Seen {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

type Handler = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void

async function backend(t: Test, handler: Handler) {
  const seen: Seen[] = []
  const server = createServer(async (req, res) => {
    let body = ''
    for await (const chunk of req) body += (chunk as Buffer).toString('utf8')
    const entry = { method: req.method!, url: req.url!, headers: req.headers, body }
    seen.push(entry)
    handler(req, res, entry)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  }))
  return { port: (server.address() as AddressInfo).port, seen }
}

const echo: Handler = (_req, res, seen) => {
  res.setHeader('content-type', 'application/json')
  res.setHeader('set-cookie', 'app=1')
  res.end(JSON.stringify(seen))
}

async function setup(t: Test, checkHandler: Handler, overrides: Partial<DevGatewayOptions> = {}) {
  const checkServer = await backend(t, checkHandler)
  const app = await backend(t, echo)
  const idp = await backend(t, echo)
  const errors: unknown[] = []
  const gateway = await startDevGateway({
    port: 0,
    checkPort: checkServer.port,
    upstreamPort: app.port,
    idpPort: idp.port,
    onError: (error) => errors.push(error),
    ...overrides,
  })
  t.teardown(() => gateway.close())
  return { url: `http://127.0.0.1:${gateway.port}`, port: gateway.port, check: checkServer.seen, app: app.seen, idp: idp.seen, errors }
}

const allow: Handler = (_req, res) => {
  res.setHeader('kubeflow-userid', 'user@example.com')
  res.setHeader('authorization', 'Bearer id-token')
  res.setHeader('x-envoy-auth-headers-to-remove', 'kubeflow-groups, X-Remove-Me')
  res.setHeader('set-cookie', ['session=renewed'])
  res.setHeader('x-not-allowed', 'check-only')
  res.end()
}

t.test('normalisePath resolves dot segments, keeps the query and //, refuses non-path targets', async (t) => {
  t.equal(normalisePath('/a/./b/../c?x=1&y=/../'), '/a/c?x=1&y=/../')
  t.equal(normalisePath('/dex/../api'), '/api')
  t.equal(normalisePath('//dex/x'), '//dex/x', 'never a host')
  t.equal(normalisePath('/a b'), '/a%20b')
  t.equal(normalisePath('http://example.com/'), undefined)
  t.equal(normalisePath('*'), undefined)
})

t.test('routesToIdp: /dex on a segment boundary', async (t) => {
  for (const path of ['/dex', '/dex/', '/dex/auth?x=1', '/dex?x=1']) t.ok(routesToIdp(path), path)
  for (const path of ['/dexter', '/', '/api/dex', '//dex']) t.notOk(routesToIdp(path), path)
})

t.test('allowed: the check sees the allow-listed headers, the app the check’s identity', async (t) => {
  const gw = await setup(t, allow)
  const response = await fetch(`${gw.url}/notebooks/../pipeline/?ns=a`, {
    method: 'POST',
    headers: {
      cookie: 'authservice_session=s',
      accept: 'text/html',
      'kubeflow-userid': 'mallory',
      'kubeflow-groups': 'admins',
      'x-remove-me': 'x',
      'x-forwarded-proto': 'https',
      'x-custom': 'kept',
      'content-type': 'text/plain',
    },
    body: 'the body',
  })
  t.equal(response.status, 200)
  t.same(response.headers.getSetCookie(), ['app=1', 'session=renewed'], 'the check’s set-cookie is added to the app’s')
  const seen = (await response.json()) as Seen

  t.equal(gw.check.length, 1)
  const check = gw.check[0]!
  t.equal(check.method, 'POST')
  t.equal(check.url, '/pipeline/?ns=a', 'normalised, query kept')
  t.equal(check.body, '', 'no body to the check')
  t.equal(check.headers['content-length'], '0')
  t.equal(check.headers.cookie, 'authservice_session=s')
  t.equal(check.headers.accept, 'text/html')
  t.equal(check.headers['x-forwarded-proto'], 'http', 'the gateway owns the scheme')
  t.equal(check.headers.host, gw.url.replace('http://', ''))
  t.notOk(check.headers['kubeflow-userid'], 'identity headers are not sent to the check')
  t.notOk(check.headers['x-custom'], 'nor anything else off the list')
  t.notOk(check.headers['content-type'])

  t.equal(seen.url, '/pipeline/?ns=a')
  t.equal(seen.body, 'the body', 'the body reaches the app')
  t.equal(seen.headers['kubeflow-userid'], 'user@example.com', 'the check’s user id replaces the client’s')
  t.equal(seen.headers.authorization, 'Bearer id-token')
  t.notOk(seen.headers['kubeflow-groups'], 'x-envoy-auth-headers-to-remove is honoured')
  t.notOk(seen.headers['x-remove-me'])
  t.notOk(seen.headers['x-not-allowed'], 'only the allowed upstream headers of the answer')
  t.equal(seen.headers['x-custom'], 'kept')
  t.equal(seen.headers['x-forwarded-proto'], 'http')
  t.equal(gw.idp.length, 0)
})

t.test('allowed /dex goes to the identity provider; a chunked body streams through', async (t) => {
  const gw = await setup(t, (_req, res) => res.end())
  const answer = await new Promise<{ status: number; body: string; cookies: string[] | undefined }>((resolve, reject) => {
    const outgoing = request(`${gw.url}/dex/token`, { method: 'POST', headers: { 'kubeflow-groups': 'kept-without-removal' } }, async (response) => {
      let body = ''
      for await (const chunk of response) body += (chunk as Buffer).toString('utf8')
      resolve({ status: response.statusCode!, body, cookies: response.headers['set-cookie'] })
    })
    outgoing.on('error', reject)
    outgoing.write('part 1, ')
    outgoing.end('part 2')
  })
  t.equal(answer.status, 200)
  t.same(answer.cookies, ['app=1'], 'no set-cookie from the check, the upstream’s stays')
  t.equal(gw.app.length, 0)
  t.equal(gw.idp.length, 1)
  t.equal(gw.idp[0]!.body, 'part 1, part 2')
  t.equal(gw.idp[0]!.headers['transfer-encoding'], 'chunked')
  t.equal(gw.idp[0]!.headers['kubeflow-groups'], 'kept-without-removal', 'nothing removed when the check says nothing')
})

t.test('denied: the check’s status, allowed headers and body go back; the upstream is never called', async (t) => {
  const gw = await setup(t, (_req, res) => {
    res.writeHead(302, {
      location: '/dex/auth?state=x',
      'set-cookie': ['flow=1'],
      'cache-control': 'no-store',
      'content-type': 'text/html',
      'www-authenticate': 'Bearer',
      'x-not-allowed': 'secret-ish',
    })
    res.end('<a href="/dex/auth">login</a>')
  })
  const response = await fetch(`${gw.url}/`, { redirect: 'manual' })
  t.equal(response.status, 302)
  t.equal(response.headers.get('location'), '/dex/auth?state=x')
  t.same(response.headers.getSetCookie(), ['flow=1'])
  t.equal(response.headers.get('cache-control'), 'no-store')
  t.equal(response.headers.get('www-authenticate'), 'Bearer')
  t.equal(response.headers.get('x-not-allowed'), null)
  t.equal(await response.text(), '<a href="/dex/auth">login</a>')
  t.equal(gw.app.length, 0)
})

t.test('a check that cannot be made is a 403; an unreachable upstream a 503', async (t) => {
  const gw = await setup(t, allow, { checkPort: 1 })
  const denied = await fetch(`${gw.url}/x`)
  t.equal(denied.status, 403)
  t.equal(await denied.text(), 'authorization check failed')
  t.equal(gw.errors.length, 1)

  const noUpstream = await setup(t, allow, { upstreamPort: 1, onError: undefined })
  const unavailable = await fetch(`${noUpstream.url}/x`)
  t.equal(unavailable.status, 503)
  t.equal(await unavailable.text(), 'upstream unavailable')
})

t.test('an upstream that breaks off mid-body ends the client’s response too', async (t) => {
  const broken = await backend(t, (_req, res) => {
    res.writeHead(200, { 'content-length': '100' })
    res.write('partial')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  const gw = await setup(t, allow, { upstreamPort: broken.port })
  const response = await fetch(`${gw.url}/x`)
  t.equal(response.status, 200)
  await t.rejects(response.text(), 'the body fails instead of hanging')
})

t.test('a target that is not a path is a 400; a request without Host still gets checked', async (t) => {
  const gw = await setup(t, (_req, res) => {
    res.writeHead(401)
    res.end()
  })
  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1', () => socket.write(text))
      let out = ''
      socket.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')))
      socket.on('end', () => resolve(out))
      socket.on('error', reject)
    })
  t.match(await raw('GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 400/)
  t.match(await raw('GET /x HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 401/)
  t.equal(gw.check.at(-1)!.headers.host, `127.0.0.1:${gw.port}`, 'the gateway’s own address stands in for a missing Host')
})
