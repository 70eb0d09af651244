/**
 * The token-endpoint calls by openid-client: code exchange (with its state, nonce and PKCE checks),
 * refresh and best-effort revocation, with client_secret_basic — and on the wire exactly what the
 * service sends (redirect_uri as configured, even relative).
 */
import t from 'tap'
import { AuthServiceError } from '../../../src/errors.js'
import type { ProviderMetadata } from '../../../src/oidc/discovery.js'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { createTokenClient, type CodeExchange, type TokenClientOptions } from '../../../src/oidc/token-client.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const TOKEN_ENDPOINT = 'http://dex.auth.svc.cluster.local:5556/dex/token'
const CLIENT_ID = 'kubeflow-oidc-authservice'
/** Dex's discovered metadata, as discovery.ts returns it. */
const DEX = { issuer: ISSUER, jwks_uri: `${ISSUER}/keys`, token_endpoint: TOKEN_ENDPOINT, id_token_signing_alg_values_supported: ['RS256'] }

interface Call {
  readonly url: string
  readonly init: Parameters<Fetch>[1]
}

/** A fetch that records calls and answers with `answer` (a Response, or an error to reject with). */
function stubFetch(answer: (call: Call) => Response | Error | Promise<Response>) {
  const calls: Call[] = []
  const fetch: Fetch = async (url, init) => {
    const call = { url, init }
    calls.push(call)
    const result = await answer(call)
    if (result instanceof Error) throw result
    return result
  }
  return { fetch, calls }
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/**
 * A Dex-shaped ID token (RS256 header, Dex's claims). Its signature is not checked here: openid-client
 * checks the claims, the caller's verifier (oidc/token-verifier.ts) the signature.
 */
function idToken(claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'RS256', kid: 'k1' })}.${part({ iss: ISSUER, sub: 'CgVhbGljZRIFbG9jYWw', aud: CLIENT_ID, iat: now, exp: now + 3600, nonce: 'login-nonce', ...claims })}.c2lnbmF0dXJl`
}

/** Dex's token response (RFC 6749 §5.1: access_token and token_type are required). */
const tokenAnswer = (fields: Record<string, unknown>) => json(200, { access_token: 'dex.access.token', token_type: 'bearer', expires_in: 3600, ...fields })

const DEX_ID_TOKEN = idToken()
const NEW_ID_TOKEN = idToken({ nonce: undefined })

function client(answer: Parameters<typeof stubFetch>[0], options: Partial<TokenClientOptions> = {}) {
  const { fetch, calls } = stubFetch(answer)
  const tokens = createTokenClient({
    metadata: () => DEX,
    clientId: CLIENT_ID,
    clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok',
    fetch,
    ...options,
  })
  return { tokens, calls }
}

/** The callback of a login that sent state `login-state` and nonce `login-nonce`. */
const exchange = (code: string, redirectUri: string, codeVerifier: string, overrides: Partial<CodeExchange> = {}): CodeExchange => ({
  callbackQuery: `code=${encodeURIComponent(code)}&state=login-state`,
  redirectUri,
  state: 'login-state',
  nonce: 'login-nonce',
  codeVerifier,
  ...overrides,
})

const body = (call: Call | undefined) => [...new URLSearchParams(call?.init?.body).entries()]

t.test('the code exchange posts exactly the RFC 6749 §4.1.3 fields, redirect_uri byte for byte even when relative', async (t) => {
  const { tokens, calls } = client(() => tokenAnswer({ id_token: DEX_ID_TOKEN, refresh_token: 'dex-refresh' }))
  const result = await tokens.exchangeCode(exchange('auth-code-1', '/authservice/oidc/callback', 'pkce-verifier'))
  t.same(result, { idToken: DEX_ID_TOKEN, refreshToken: 'dex-refresh' })
  t.equal(calls.length, 1)
  t.equal(calls[0]!.url, TOKEN_ENDPOINT)
  t.equal(calls[0]!.init?.method, 'POST')
  t.same(body(calls[0]), [
    ['grant_type', 'authorization_code'],
    ['code', 'auth-code-1'],
    ['redirect_uri', '/authservice/oidc/callback'],
    ['code_verifier', 'pkce-verifier'],
  ])
  t.equal(calls[0]!.init?.body, 'grant_type=authorization_code&code=auth-code-1&redirect_uri=%2Fauthservice%2Foidc%2Fcallback&code_verifier=pkce-verifier')
  t.equal(calls[0]!.init?.headers?.['content-type'], 'application/x-www-form-urlencoded')
  t.equal(calls[0]!.init?.headers?.accept, 'application/json')
  t.ok(calls[0]!.init?.signal instanceof AbortSignal, 'the call has a timeout')
  t.equal(calls[0]!.init?.redirect, 'manual', 'a redirect is an answer, never followed with the credentials')
})

t.test('an absolute redirect_uri with its own query is sent unchanged', async (t) => {
  const { tokens, calls } = client(() => tokenAnswer({ id_token: DEX_ID_TOKEN }))
  await tokens.exchangeCode(exchange('c', 'https://kubeflow.example.com/authservice/oidc/callback?a=1&b=%2F', 'v'))
  t.equal(new URLSearchParams(calls[0]!.init?.body).get('redirect_uri'), 'https://kubeflow.example.com/authservice/oidc/callback?a=1&b=%2F')
})

t.test('client_secret_basic form-encodes the id and secret before base64 (RFC 6749 §2.3.1, as Dex decodes them)', async (t) => {
  const { tokens, calls } = client(() => tokenAnswer({ id_token: idToken({ aud: 'my client' }) }), { clientId: 'my client', clientSecret: 'p@ss:w/rd+é' })
  await tokens.exchangeCode(exchange('c', '/cb', 'v'))
  const authorization = calls[0]!.init?.headers?.authorization ?? ''
  t.match(authorization, /^Basic [A-Za-z0-9+/]+=*$/)
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8')
  t.equal(decoded, 'my+client:p%40ss%3Aw%2Frd%2B%C3%A9', 'the : inside the secret cannot split it')
  t.notMatch(body(calls[0]).flat().join(' '), 'p@ss', 'the secret is not in the body')
})

t.test('openid-client checks the callback and the ID token before anything is kept', async (t) => {
  const cases: Array<[name: string, overrides: Partial<CodeExchange>, idTokenClaims: Record<string, unknown>, requests: number]> = [
    ['the callback\'s state is not this login\'s', { callbackQuery: 'code=c&state=another-login' }, {}, 0],
    ['the callback carries no state', { callbackQuery: 'code=c' }, {}, 0],
    ['the callback carries no code', { callbackQuery: 'state=login-state' }, {}, 0],
    ['the callback names another issuer (RFC 9207)', { callbackQuery: 'code=c&state=login-state&iss=https%3A%2F%2Fevil.example' }, {}, 0],
    ['the ID token\'s nonce is not this login\'s', {}, { nonce: 'another-nonce' }, 1],
    ['the ID token has no nonce', {}, { nonce: undefined }, 1],
    ['the ID token is from another issuer', {}, { iss: 'https://evil.example' }, 1],
    ['the ID token is for another client', {}, { aud: 'another-client' }, 1],
    ['the ID token has expired', {}, { exp: Math.floor(Date.now() / 1000) - 3600 }, 1],
  ]
  for (const [name, overrides, claims, requests] of cases) {
    const { tokens, calls } = client(() => tokenAnswer({ id_token: idToken(claims) }))
    await t.rejects(tokens.exchangeCode(exchange('c', '/cb', 'v', overrides)), { code: 'ERR_LOGIN_EXCHANGE_FAILED', name: 'AuthServiceError' }, name)
    t.equal(calls.length, requests, `${name}: ${requests ? 'refused after the exchange' : 'nothing sent'}`)
  }
})

t.test('a refresh posts grant_type=refresh_token and keeps the old refresh token when none comes back', async (t) => {
  const { tokens, calls } = client(() => tokenAnswer({ id_token: NEW_ID_TOKEN }))
  t.same(await tokens.refresh('dex-refresh'), { idToken: NEW_ID_TOKEN, refreshToken: undefined })
  t.same(body(calls[0]), [
    ['grant_type', 'refresh_token'],
    ['refresh_token', 'dex-refresh'],
  ])
  const rotated = client(() => tokenAnswer({ id_token: NEW_ID_TOKEN, refresh_token: 'rotated' }))
  t.same(await rotated.tokens.refresh('r'), { idToken: NEW_ID_TOKEN, refreshToken: 'rotated' })
})

t.test('invalid_grant on refresh means the grant is dead (log in again): ERR_REFRESH_REJECTED', async (t) => {
  const { tokens } = client(() => json(400, { error: 'invalid_grant', error_description: 'Refresh token is invalid or has already been claimed by another client.' }))
  await t.rejects(tokens.refresh('revoked'), { code: 'ERR_REFRESH_REJECTED', message: 'token endpoint answered 400' })
})

t.test('other refresh failures are temporary: ERR_REFRESH_FAILED, the session is not ended', async (t) => {
  const answers: [name: string, answer: () => Response | Error][] = [
    ['invalid_client', () => json(401, { error: 'invalid_client' })],
    ['invalid_client with a WWW-Authenticate challenge', () => json(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="dex"' })],
    ['a 500 with a JSON error', () => json(500, { error: 'server_error' })],
    ['a 502 HTML page from a proxy', () => new Response('<html>bad gateway</html>', { status: 502 })],
    ['a 400 HTML page from a proxy', () => new Response('<html>bad request</html>', { status: 400, headers: { 'content-type': 'text/html' } })],
    ['a 400 with a JSON null body', () => json(400, null)],
    ['the network fails', () => new TypeError('fetch failed')],
    ['a 200 without id_token', () => tokenAnswer({})],
    ['a 200 with a non-string id_token', () => tokenAnswer({ id_token: 7 })],
    // openid-client refuses a malformed token response outright (it ignored such a refresh_token before).
    ['a 200 with a non-string refresh_token', () => tokenAnswer({ id_token: NEW_ID_TOKEN, refresh_token: 42 })],
    ['a 200 without access_token (RFC 6749 §5.1)', () => json(200, { id_token: NEW_ID_TOKEN, token_type: 'bearer' })],
    ['a refreshed ID token for another client', () => tokenAnswer({ id_token: idToken({ aud: 'another-client' }) })],
  ]
  for (const [name, answer] of answers) {
    const { tokens } = client(answer)
    await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED' }, name)
  }
  const challenged = client(() => json(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="dex"' }))
  await t.rejects(challenged.tokens.refresh('r'), { message: 'token endpoint answered 401' }, 'the status is named')
  const html = client(() => new Response('<html>bad request</html>', { status: 400, headers: { 'content-type': 'text/html' } }))
  await t.rejects(html.tokens.refresh('r'), { message: 'token endpoint answered 400' }, 'the status is named without an OAuth error body')
})

t.test('a failed code exchange is ERR_LOGIN_EXCHANGE_FAILED, even for invalid_grant (a used or expired code)', async (t) => {
  const answers: [name: string, answer: () => Response | Error][] = [
    ['invalid_grant', () => json(400, { error: 'invalid_grant' })],
    ['invalid_client', () => json(401, { error: 'invalid_client' })],
    ['the network fails', () => new Error('ECONNREFUSED')],
    ['no id_token', () => tokenAnswer({})],
    ['an unparseable body', () => new Response('not json', { status: 200 })],
  ]
  for (const [name, answer] of answers) {
    const { tokens } = client(answer)
    await t.rejects(tokens.exchangeCode(exchange('c', '/cb', 'v')), { code: 'ERR_LOGIN_EXCHANGE_FAILED', name: 'AuthServiceError' }, name)
  }
  const unparseable = client(() => new Response('not json', { status: 200 }))
  await t.rejects(unparseable.tokens.exchangeCode(exchange('c', '/cb', 'v')), { message: 'token response refused' })
})

t.test('a network error keeps its cause and never reveals the code or secrets in the message', async (t) => {
  const cause = new Error('connect ECONNREFUSED 10.0.0.1:5556')
  const { tokens } = client(() => cause)
  const error = await tokens.exchangeCode(exchange('secret-auth-code', '/cb', 'secret-verifier')).catch((e: unknown) => e)
  t.ok(error instanceof AuthServiceError)
  t.equal((error as AuthServiceError).cause, cause)
  t.equal((error as AuthServiceError).message, 'token endpoint unreachable')
})

t.test('a token endpoint that hangs is abandoned after the timeout', async (t) => {
  const { tokens } = client(
    (call) =>
      new Promise<Response>((resolve, reject) => {
        // Answers after 5 s unless aborted first (AbortSignal.timeout's timer alone does not keep the process alive).
        const late = setTimeout(() => resolve(tokenAnswer({ id_token: NEW_ID_TOKEN })), 5_000)
        call.init?.signal?.addEventListener('abort', () => {
          clearTimeout(late)
          reject(call.init?.signal?.reason)
        })
      }),
    { timeoutMs: 20 },
  )
  await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', message: 'token endpoint unreachable' })
})

t.test('before discovery (no token endpoint known), nothing is sent and the call fails', async (t) => {
  for (const metadata of [undefined, { issuer: ISSUER, jwks_uri: `${ISSUER}/keys` }]) {
    const { tokens, calls } = client(() => tokenAnswer({ id_token: DEX_ID_TOKEN }), { metadata: () => metadata })
    await t.rejects(tokens.exchangeCode(exchange('c', '/cb', 'v')), { code: 'ERR_LOGIN_EXCHANGE_FAILED', message: 'token endpoint unknown' })
    await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', message: 'token endpoint unknown' })
    t.equal(calls.length, 0)
  }
})

t.test('an https provider gets no plain-http allowance: a plain-http token endpoint is refused', async (t) => {
  const https: ProviderMetadata = { issuer: 'https://idp.example', jwks_uri: 'https://idp.example/keys', token_endpoint: 'https://idp.example/token' }
  const issued = idToken({ iss: 'https://idp.example' })
  const secure = client(() => tokenAnswer({ id_token: issued }), { metadata: () => https })
  t.same(await secure.tokens.refresh('r'), { idToken: issued, refreshToken: undefined })
  t.equal(secure.calls[0]?.url, 'https://idp.example/token')
  const downgraded = client(() => tokenAnswer({ id_token: NEW_ID_TOKEN }), { metadata: () => ({ ...https, token_endpoint: 'http://idp.example/token' }) })
  await t.rejects(downgraded.tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', message: 'token response refused' })
  t.equal(downgraded.calls.length, 0, 'nothing sent over plain http')
})

t.test('JWT_CLOCK_SKEW_SECONDS is the tolerance for the ID token\'s expiry', async (t) => {
  const expired = idToken({ exp: Math.floor(Date.now() / 1000) - 60 })
  const strict = client(() => tokenAnswer({ id_token: expired }), { clockSkewSeconds: 10 })
  await t.rejects(strict.tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED' })
  const lenient = client(() => tokenAnswer({ id_token: expired }), { clockSkewSeconds: 120 })
  t.same(await lenient.tokens.refresh('r'), { idToken: expired, refreshToken: undefined })
})

t.test('revocation posts the refresh token to the revocation endpoint (RFC 7009) with client authentication', async (t) => {
  const { tokens, calls } = client(() => new Response(null, { status: 200 }), { metadata: () => ({ ...DEX, revocation_endpoint: 'https://idp.example/revoke' }) })
  await tokens.revoke('dex-refresh')
  t.equal(calls.length, 1)
  t.equal(calls[0]!.url, 'https://idp.example/revoke')
  t.equal(calls[0]!.init?.method, 'POST')
  t.same(body(calls[0]), [
    ['token', 'dex-refresh'],
    ['token_type_hint', 'refresh_token'],
  ])
  t.match(calls[0]!.init?.headers?.authorization, /^Basic /)
  t.equal(calls[0]!.init?.headers?.['content-type'], 'application/x-www-form-urlencoded')
  t.ok(calls[0]!.init?.signal instanceof AbortSignal)
})

t.test('revocation is best effort: a refusal or a network error does not fail the logout', async (t) => {
  for (const [name, answer] of [
    ['a 400', () => json(400, { error: 'unsupported_token_type' })],
    ['a network error', () => new Error('ECONNRESET')],
  ] as const) {
    const { tokens, calls } = client(answer, { metadata: () => ({ ...DEX, revocation_endpoint: 'https://idp.example/revoke' }) })
    await t.resolves(tokens.revoke('r'), name)
    t.equal(calls.length, 1, `${name}: it was tried`)
  }
})

t.test('revocation is skipped when the provider has no revocation endpoint (Dex)', async (t) => {
  for (const options of [{}, { metadata: () => undefined }]) {
    const { tokens, calls } = client(() => json(200, {}), options)
    await tokens.revoke('r')
    t.equal(calls.length, 0)
  }
})

t.test('a 200 whose JSON body is null fails with the stable code, like a missing id_token', async (t) => {
  const { tokens } = client(() => json(200, null))
  await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', name: 'AuthServiceError' })
  await t.rejects(tokens.exchangeCode(exchange('c', '/cb', 'v')), { code: 'ERR_LOGIN_EXCHANGE_FAILED', name: 'AuthServiceError' })
})
