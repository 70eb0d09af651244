/**
 * openid-client's requests through our Fetch: forms in RFC order with the configured redirect_uri,
 * no user-agent, our timeout in ms, extra headers; and what openid-client's errors say about the
 * provider's answer.
 */
import * as client from 'openid-client'
import t from 'tap'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { answeredStatus, openidFetch, requestFailure } from '../../../src/oidc/openid-fetch.js'

const TOKEN_ENDPOINT = 'http://dex.auth.svc.cluster.local:5556/dex/token'

type Init = Parameters<Fetch>[1]

function recording(answer: () => Response | Promise<Response> = () => new Response('{}')) {
  const calls: Array<{ url: string; init: Init }> = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, init })
    return answer()
  }
  return { fetch, calls }
}

/** What openid-client hands its customFetch for a token request. */
function tokenRequest(form: Record<string, string>, signal?: AbortSignal): client.CustomFetchOptions {
  return {
    method: 'POST',
    headers: { 'user-agent': 'openid-client/v6.8.9', accept: 'application/json', authorization: 'Basic a2Y6cw==', 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    body: new URLSearchParams(form),
    redirect: 'manual',
    signal,
  }
}

t.test('a form goes out in RFC order, as application/x-www-form-urlencoded, without user-agent', async (t) => {
  const { fetch, calls } = recording()
  const send = openidFetch(fetch)
  await send(TOKEN_ENDPOINT, tokenRequest({ redirect_uri: 'https://callback.invalid/', code: 'c', scope: 'openid', code_verifier: 'v', grant_type: 'authorization_code' }))
  t.equal(calls[0]?.url, TOKEN_ENDPOINT)
  t.equal(calls[0]?.init?.body, 'grant_type=authorization_code&code=c&redirect_uri=https%3A%2F%2Fcallback.invalid%2F&code_verifier=v&scope=openid', 'fields RFC 6749 does not list come last')
  t.same(calls[0]?.init?.headers, { accept: 'application/json', authorization: 'Basic a2Y6cw==', 'content-type': 'application/x-www-form-urlencoded' })
  t.equal(calls[0]?.init?.method, 'POST')
  t.equal(calls[0]?.init?.redirect, 'manual')
})

t.test('redirect_uri is put back exactly as this login sent it, when the form has one', async (t) => {
  const { fetch, calls } = recording()
  const send = openidFetch(fetch, { redirectUri: '/authservice/oidc/callback' })
  await send(TOKEN_ENDPOINT, tokenRequest({ code: 'c', redirect_uri: 'https://callback.invalid/', grant_type: 'authorization_code' }))
  t.equal(new URLSearchParams(calls[0]?.init?.body).get('redirect_uri'), '/authservice/oidc/callback')
  await send(TOKEN_ENDPOINT, tokenRequest({ refresh_token: 'r', grant_type: 'refresh_token' }))
  t.equal(calls[1]?.init?.body, 'grant_type=refresh_token&refresh_token=r', 'none added where there was none')
})

t.test('a request without a body (discovery) gets the extra headers and no content-type', async (t) => {
  const { fetch, calls } = recording()
  const send = openidFetch(fetch, { headers: () => ({ authorization: 'Bearer sa-token' }) })
  for (const body of [undefined, null]) {
    await send('https://kubernetes.default.svc/.well-known/openid-configuration', { method: 'GET', headers: { 'user-agent': 'x', accept: 'application/json' }, body, redirect: 'manual' })
  }
  for (const call of calls) {
    t.equal(call.init?.body, undefined)
    t.same(call.init?.headers, { accept: 'application/json', authorization: 'Bearer sa-token' })
  }
})

t.test('only forms are sent: any other body is a programming error', async (t) => {
  const { fetch, calls } = recording()
  await t.rejects(openidFetch(fetch)(TOKEN_ENDPOINT, { method: 'POST', headers: {}, body: 'raw', redirect: 'manual' }), TypeError)
  t.equal(calls.length, 0)
})

t.test('every request has our timeout (3 s by default), combined with openid-client\'s signal', async (t) => {
  const hanging = (signals: AbortSignal[]): Fetch => (_url, init) =>
    new Promise((_resolve, reject) => {
      signals.push(init!.signal!)
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))
    })
  // AbortSignal.timeout's timer does not keep the process alive; this one does, until the answer.
  const keepAlive = setInterval(() => undefined, 1_000)
  t.teardown(() => clearInterval(keepAlive))

  const signals: AbortSignal[] = []
  const error = await openidFetch(hanging(signals), { timeoutMs: 10 })(TOKEN_ENDPOINT, tokenRequest({ grant_type: 'refresh_token' })).catch((e: unknown) => e)
  t.match(requestFailure(error), { cause: { name: 'TimeoutError' } }, 'timed out after 10 ms, as a request without an answer')

  const controller = new AbortController()
  const aborted = openidFetch(hanging(signals), { timeoutMs: 60_000 })(TOKEN_ENDPOINT, tokenRequest({ grant_type: 'refresh_token' }, controller.signal))
  controller.abort(new Error('openid-client gave up'))
  t.match(requestFailure(await aborted.catch((e: unknown) => e)), { cause: { message: 'openid-client gave up' } }, 'openid-client\'s own signal still counts')

  const { fetch, calls } = recording()
  await openidFetch(fetch)(TOKEN_ENDPOINT, tokenRequest({ grant_type: 'refresh_token' }))
  t.ok(calls[0]?.init?.signal instanceof AbortSignal, 'the default timeout')
  t.equal(calls[0]?.init?.signal?.aborted, false)
})

t.test('requestFailure finds what our Fetch threw through openid-client\'s wrapping, and nothing else', async (t) => {
  const refused = new TypeError('fetch failed')
  const config = new client.Configuration({ issuer: 'https://idp.example', token_endpoint: 'https://idp.example/token' }, 'kf', 's')
  config[client.customFetch] = openidFetch(() => Promise.reject(refused))
  const error = await client.refreshTokenGrant(config, 'r').catch((e: unknown) => e)
  t.type(error, client.ClientError, 'openid-client wrapped it')
  t.equal(requestFailure(error)?.cause, refused)

  t.equal(requestFailure(new Error('answered', { cause: new Error('deeper') })), undefined)
  t.equal(requestFailure('not an error'), undefined)
  let deep: Error = error as Error
  for (let i = 0; i < 5; i++) deep = new Error(`wrapper ${i}`, { cause: deep })
  t.equal(requestFailure(deep), undefined, 'a cause chain is followed five deep at most')
})

t.test('answeredStatus: the status of an error answer openid-client refused', async (t) => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
  const refusal = async (answer: () => Response | Promise<Response>) => {
    const config = new client.Configuration({ issuer: 'https://idp.example', token_endpoint: 'https://idp.example/token' }, 'kf', 's')
    config[client.customFetch] = openidFetch(recording(answer).fetch)
    return client.refreshTokenGrant(config, 'r').catch((e: unknown) => e)
  }
  const cases: Array<[name: string, answer: () => Response, status: number | undefined]> = [
    ['an OAuth error body', () => json(400, { error: 'invalid_grant' }), 400],
    ['a WWW-Authenticate challenge', () => json(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="dex"' }), 401],
    ['a proxy\'s HTML page', () => new Response('<html>bad gateway</html>', { status: 502 }), 502],
    ['a 4xx without JSON', () => new Response('<html>no</html>', { status: 400, headers: { 'content-type': 'text/html' } }), 400],
    ['a 200 that is not JSON', () => new Response('not json', { status: 200 }), undefined],
    ['a 200 without access_token', () => json(200, { token_type: 'bearer' }), undefined],
  ]
  for (const [name, answer, status] of cases) {
    t.equal(answeredStatus(await refusal(answer)), status, name)
  }
  t.equal(answeredStatus(new Error('other')), undefined)
})
