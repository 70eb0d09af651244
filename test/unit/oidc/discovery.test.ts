/** OpenID Provider discovery: one attempt, exact issuer match (OIDC Discovery §4.3), a jwks_uri required. */
import t from 'tap'
import type { Fetch } from '../../../src/http/fetch.js'
import { discover, discoveryUrl } from '../../../src/oidc/discovery.js'
import { startTestIssuer } from '../../helpers/test-issuer.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'

function answering(body: unknown, status = 200) {
  const calls: Array<{ url: string; headers: Record<string, string> | undefined; signal: AbortSignal | undefined }> = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, headers: init?.headers, signal: init?.signal })
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status })
  }
  return { fetch, calls }
}

t.test('discoveryUrl appends the well-known path, dropping trailing slashes of the issuer', async (t) => {
  t.equal(discoveryUrl(ISSUER), `${ISSUER}/.well-known/openid-configuration`)
  t.equal(discoveryUrl(`${ISSUER}/`), `${ISSUER}/.well-known/openid-configuration`)
  t.equal(discoveryUrl(`${ISSUER}///`), `${ISSUER}/.well-known/openid-configuration`)
  t.equal(discoveryUrl('https://accounts.example'), 'https://accounts.example/.well-known/openid-configuration')
})

t.test('discovers a Dex-shaped provider over loopback (issuer with a path)', async (t) => {
  const op = await startTestIssuer({ path: '/dex' })
  t.teardown(() => op.close())
  const metadata = await discover({ issuer: op.issuer, fetch: (url, init) => fetch(url, init) })
  t.equal(metadata.issuer, op.issuer)
  t.equal(metadata.jwks_uri, op.jwksUri)
  t.equal(metadata.token_endpoint, `${op.issuer}/token`)
  t.equal(op.discoveryRequests(), 1)
})

t.test('sends accept: application/json, the extra headers and a timeout signal', async (t) => {
  const { fetch, calls } = answering({ issuer: ISSUER, jwks_uri: `${ISSUER}/keys` })
  await discover({ issuer: ISSUER, fetch, headers: () => ({ authorization: 'Bearer sa-token' }) })
  t.equal(calls[0]?.url, `${ISSUER}/.well-known/openid-configuration`)
  t.same(calls[0]?.headers, { accept: 'application/json', authorization: 'Bearer sa-token' })
  t.type(calls[0]?.signal, AbortSignal)
  await discover({ issuer: ISSUER, fetch })
  t.same(calls[1]?.headers, { accept: 'application/json' }, 'no extra headers unless asked')
})

t.test('returns the document as the provider sent it', async (t) => {
  const document = { issuer: ISSUER, jwks_uri: `${ISSUER}/keys`, authorization_endpoint: `${ISSUER}/auth`, extra: 1 }
  const { fetch } = answering(document)
  t.same(await discover({ issuer: ISSUER, fetch }), document)
})

t.test('fails with ERR_PROVIDER_UNAVAILABLE when', async (t) => {
  const cases: Array<[name: string, fetch: Fetch]> = [
    ['the request fails', () => Promise.reject(new Error('ECONNREFUSED'))],
    ['the provider answers 503', answering({ error: 'starting' }, 503).fetch],
    ['the provider answers 404', answering({ issuer: ISSUER, jwks_uri: `${ISSUER}/keys` }, 404).fetch],
    ['the body is not JSON', answering('<html>dex</html>').fetch],
    ['the discovered issuer has a trailing slash the configured one lacks', answering({ issuer: `${ISSUER}/`, jwks_uri: `${ISSUER}/keys` }).fetch],
    ['the discovered issuer differs in case', answering({ issuer: ISSUER.toUpperCase(), jwks_uri: `${ISSUER}/keys` }).fetch],
    ['the document has no issuer', answering({ jwks_uri: `${ISSUER}/keys` }).fetch],
    ['the document has no jwks_uri', answering({ issuer: ISSUER }).fetch],
    ['jwks_uri is not a string', answering({ issuer: ISSUER, jwks_uri: [`${ISSUER}/keys`] }).fetch],
  ]
  for (const [name, fetch] of cases) {
    await t.rejects(discover({ issuer: ISSUER, fetch }), { code: 'ERR_PROVIDER_UNAVAILABLE' }, name)
  }
})

t.test('a provider that does not answer within timeoutMs is unavailable', async (t) => {
  const fetch: Fetch = (_url, init) =>
    new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))
  // AbortSignal.timeout's timer does not keep the process alive; this one does, until the answer.
  const keepAlive = setInterval(() => undefined, 1_000)
  t.teardown(() => clearInterval(keepAlive))
  await t.rejects(discover({ issuer: ISSUER, fetch, timeoutMs: 5 }), {
    code: 'ERR_PROVIDER_UNAVAILABLE',
    cause: { name: 'TimeoutError' },
  })
})

t.test('a discovery body of null is unavailable (ERR_PROVIDER_UNAVAILABLE)', async (t) => {
  await t.rejects(discover({ issuer: ISSUER, fetch: answering(null).fetch }), { code: 'ERR_PROVIDER_UNAVAILABLE' })
})
