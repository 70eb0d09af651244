/** OpenID Provider discovery by openid-client: one attempt, exact issuer match (OIDC Discovery §4.3), a jwks_uri required. */
import t from 'tap'
import type { Fetch } from '../../../src/oidc/fetch.js'
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

t.test('the discovered issuer differs only where URL parsing normalises it: still refused, tokens carry it as a string', async (t) => {
  // openid-client compares the issuers as parsed URLs and lets these pass; the verifier would then
  // refuse every token (its iss is the configured string), so discovery refuses them instead.
  const cases: Array<[configured: string, discovered: string]> = [
    [ISSUER, 'http://DEX.auth.svc.cluster.local:5556/dex'],
    ['https://accounts.example', 'https://accounts.example:443'],
  ]
  for (const [configured, discovered] of cases) {
    await t.rejects(discover({ issuer: configured, fetch: answering({ issuer: discovered, jwks_uri: `${configured}/keys` }).fetch }), {
      code: 'ERR_PROVIDER_UNAVAILABLE',
      message: 'discovered issuer does not equal the configured issuer',
    }, discovered)
  }
})

t.test('an https issuer is discovered over https (plain http is allowed for http issuers only)', async (t) => {
  const { fetch, calls } = answering({ issuer: 'https://accounts.example', jwks_uri: 'https://accounts.example/keys' })
  t.equal((await discover({ issuer: 'https://accounts.example', fetch })).jwks_uri, 'https://accounts.example/keys')
  t.equal(calls[0]?.url, 'https://accounts.example/.well-known/openid-configuration')
})

t.test('the failure says what happened: the status answered, or what the request threw', async (t) => {
  await t.rejects(discover({ issuer: ISSUER, fetch: answering({ error: 'starting' }, 503).fetch }), { message: 'identity provider discovery failed: answered 503' })
  const refused = new TypeError('fetch failed')
  await t.rejects(discover({ issuer: ISSUER, fetch: () => Promise.reject(refused) }), { message: 'identity provider discovery failed', cause: refused })
  await t.rejects(discover({ issuer: ISSUER, fetch: answering({ issuer: `${ISSUER}/`, jwks_uri: `${ISSUER}/keys` }).fetch }), {
    message: 'discovered issuer does not equal the configured issuer',
  }, 'a trailing slash (openid-client\'s check) is named as such')
  await t.rejects(discover({ issuer: ISSUER, fetch: answering('<html>dex</html>').fetch }), {
    message: 'identity provider discovery failed',
    cause: { code: 'OAUTH_RESPONSE_IS_NOT_JSON' },
  }, 'otherwise openid-client\'s reason is the cause')
})
