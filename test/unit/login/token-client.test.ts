/** The token-endpoint calls: code exchange, refresh and best-effort revocation, with client_secret_basic. */
import t from 'tap'
import { AuthServiceError } from '../../../src/errors.js'
import type { Fetch } from '../../../src/http/fetch.js'
import { createTokenClient, type TokenClientOptions } from '../../../src/login/token-client.js'

const TOKEN_ENDPOINT = 'http://dex.auth.svc.cluster.local:5556/dex/token'

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

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

function client(answer: Parameters<typeof stubFetch>[0], options: Partial<TokenClientOptions> = {}) {
  const { fetch, calls } = stubFetch(answer)
  const tokens = createTokenClient({
    tokenEndpoint: () => TOKEN_ENDPOINT,
    clientId: 'kubeflow-oidc-authservice',
    clientSecret: 'pUBnBOY80SnXgjibTYM9ZWNzY2xreNGQok',
    fetch,
    ...options,
  })
  return { tokens, calls }
}

const body = (call: Call | undefined) => [...new URLSearchParams(call?.init?.body).entries()]

t.test('the code exchange posts exactly the RFC 6749 §4.1.3 fields, redirect_uri byte for byte even when relative', async (t) => {
  const { tokens, calls } = client(() => json(200, { id_token: 'dex.id.token', refresh_token: 'dex-refresh', access_token: 'a', token_type: 'bearer' }))
  const result = await tokens.exchangeCode('auth-code-1', '/authservice/oidc/callback', 'pkce-verifier')
  t.same(result, { idToken: 'dex.id.token', refreshToken: 'dex-refresh' })
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
})

t.test('an absolute redirect_uri with its own query is sent unchanged', async (t) => {
  const { tokens, calls } = client(() => json(200, { id_token: 'x' }))
  await tokens.exchangeCode('c', 'https://kubeflow.example.com/authservice/oidc/callback?a=1&b=%2F', 'v')
  t.equal(new URLSearchParams(calls[0]!.init?.body).get('redirect_uri'), 'https://kubeflow.example.com/authservice/oidc/callback?a=1&b=%2F')
})

t.test('client_secret_basic form-encodes the id and secret before base64 (RFC 6749 §2.3.1, as Dex decodes them)', async (t) => {
  const { tokens, calls } = client(() => json(200, { id_token: 'x' }), { clientId: 'my client', clientSecret: 'p@ss:w/rd+é' })
  await tokens.exchangeCode('c', '/cb', 'v')
  const authorization = calls[0]!.init?.headers?.authorization ?? ''
  t.match(authorization, /^Basic [A-Za-z0-9+/]+=*$/)
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8')
  t.equal(decoded, 'my+client:p%40ss%3Aw%2Frd%2B%C3%A9', 'the : inside the secret cannot split it')
  t.notMatch(body(calls[0]).flat().join(' '), 'p@ss', 'the secret is not in the body')
})

t.test('a refresh posts grant_type=refresh_token and keeps the old refresh token when none comes back', async (t) => {
  const { tokens, calls } = client(() => json(200, { id_token: 'new.id.token' }))
  t.same(await tokens.refresh('dex-refresh'), { idToken: 'new.id.token', refreshToken: undefined })
  t.same(body(calls[0]), [
    ['grant_type', 'refresh_token'],
    ['refresh_token', 'dex-refresh'],
  ])
  const rotated = client(() => json(200, { id_token: 'n', refresh_token: 'rotated' }))
  t.same(await rotated.tokens.refresh('r'), { idToken: 'n', refreshToken: 'rotated' })
  const odd = client(() => json(200, { id_token: 'n', refresh_token: 42 }))
  t.same(await odd.tokens.refresh('r'), { idToken: 'n', refreshToken: undefined }, 'a non-string refresh_token is ignored')
})

t.test('invalid_grant on refresh means the grant is dead (log in again): ERR_REFRESH_REJECTED', async (t) => {
  const { tokens } = client(() => json(400, { error: 'invalid_grant', error_description: 'Refresh token is invalid or has already been claimed by another client.' }))
  await t.rejects(tokens.refresh('revoked'), { code: 'ERR_REFRESH_REJECTED', message: 'token endpoint answered 400' })
})

t.test('other refresh failures are temporary: ERR_REFRESH_FAILED, the session is not ended', async (t) => {
  const answers: [name: string, answer: () => Response | Error][] = [
    ['invalid_client', () => json(401, { error: 'invalid_client' })],
    ['a 500 with a JSON error', () => json(500, { error: 'server_error' })],
    ['a 502 HTML page from a proxy', () => new Response('<html>bad gateway</html>', { status: 502 })],
    ['a 400 with a JSON null body', () => json(400, null)],
    ['the network fails', () => new TypeError('fetch failed')],
    ['a 200 without id_token', () => json(200, { access_token: 'a' })],
    ['a 200 with a non-string id_token', () => json(200, { id_token: 7 })],
  ]
  for (const [name, answer] of answers) {
    const { tokens } = client(answer)
    await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED' }, name)
  }
})

t.test('a failed code exchange is ERR_LOGIN_EXCHANGE_FAILED, even for invalid_grant (a used or expired code)', async (t) => {
  const answers: [name: string, answer: () => Response | Error][] = [
    ['invalid_grant', () => json(400, { error: 'invalid_grant' })],
    ['invalid_client', () => json(401, { error: 'invalid_client' })],
    ['the network fails', () => new Error('ECONNREFUSED')],
    ['no id_token', () => json(200, { access_token: 'a' })],
    ['an unparseable body', () => new Response('not json', { status: 200 })],
  ]
  for (const [name, answer] of answers) {
    const { tokens } = client(answer)
    await t.rejects(tokens.exchangeCode('c', '/cb', 'v'), { code: 'ERR_LOGIN_EXCHANGE_FAILED', name: 'AuthServiceError' }, name)
  }
})

t.test('a network error keeps its cause and never reveals the code or secrets in the message', async (t) => {
  const cause = new Error('connect ECONNREFUSED 10.0.0.1:5556')
  const { tokens } = client(() => cause)
  const error = await tokens.exchangeCode('secret-auth-code', '/cb', 'secret-verifier').catch((e: unknown) => e)
  t.ok(error instanceof AuthServiceError)
  t.equal((error as AuthServiceError).cause, cause)
  t.equal((error as AuthServiceError).message, 'token endpoint unreachable')
})

t.test('a token endpoint that hangs is abandoned after the timeout', async (t) => {
  const { tokens } = client(
    (call) =>
      new Promise<Response>((resolve, reject) => {
        // Answers after 5 s unless aborted first (AbortSignal.timeout's timer alone does not keep the process alive).
        const late = setTimeout(() => resolve(json(200, { id_token: 'too.late.token' })), 5_000)
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
  const { tokens, calls } = client(() => json(200, { id_token: 'x' }), { tokenEndpoint: () => undefined })
  await t.rejects(tokens.exchangeCode('c', '/cb', 'v'), { code: 'ERR_LOGIN_EXCHANGE_FAILED', message: 'token endpoint unknown' })
  await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', message: 'token endpoint unknown' })
  t.equal(calls.length, 0)
})

t.test('revocation posts the refresh token to the revocation endpoint (RFC 7009) with client authentication', async (t) => {
  const { tokens, calls } = client(() => new Response(null, { status: 200 }), { revocationEndpoint: () => 'https://idp.example/revoke' })
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
    const { tokens, calls } = client(answer, { revocationEndpoint: () => 'https://idp.example/revoke' })
    await t.resolves(tokens.revoke('r'), name)
    t.equal(calls.length, 1, `${name}: it was tried`)
  }
})

t.test('revocation is skipped when the provider has no revocation endpoint (Dex)', async (t) => {
  for (const options of [{}, { revocationEndpoint: () => undefined }]) {
    const { tokens, calls } = client(() => json(200, {}), options)
    await tokens.revoke('r')
    t.equal(calls.length, 0)
  }
})

t.test('a 200 whose JSON body is null fails with the stable code, like a missing id_token', async (t) => {
  const { tokens } = client(() => json(200, null))
  await t.rejects(tokens.refresh('r'), { code: 'ERR_REFRESH_FAILED', name: 'AuthServiceError' })
  await t.rejects(tokens.exchangeCode('c', '/cb', 'v'), { code: 'ERR_LOGIN_EXCHANGE_FAILED', name: 'AuthServiceError' })
})
