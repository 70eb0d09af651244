// No secret in any log line: one representative run of everything the service logs about — scripted
// logins through Envoy in both transports, bearer checks, sessions as cookies and as Authorization,
// a refresh, a refresh that times out and one Dex refuses, logout and sign-out, failed callbacks,
// hostile tokens and cookies — at LOG_LEVEL=trace, with every token, cookie value, authorization
// code, state, client secret, session secret and password captured from the hops, then searched
// for in every line the service (and its gRPC server) wrote.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { startAuthservice } from '../helpers/authservice.js'
import { startDexBehindProxy } from '../helpers/dex-behind-proxy.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, NAVIGATE, faultEnv, loginUntilCallback, startFaultGateway, tokenWithUnknownKid } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { scriptedLogin } from '../helpers/scripted-login.js'
import { corruptSignature } from '../helpers/test-issuer.js'
import { send, type Answer } from '../helpers/traffic.js'

t.test('a representative run logs no token, cookie, code, state or secret', { skip: skipUnlessPeers('dex', 'envoy') }, async (t) => {
  const dex = await startDexBehindProxy({ idTokenTTL: '30s' })
  t.teardown(() => dex.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const sessionSecrets = [randomBytes(32).toString('base64'), randomBytes(48).toString('base64')]
  const offset = { ms: 0 }
  const svc = await startAuthservice(
    faultEnv(dex, {
      LOG_LEVEL: 'trace',
      OIDC_SCOPES: 'profile email groups offline_access',
      SET_AUTHORIZATION_HEADER: 'true',
      SESSION_SECRETS: sessionSecrets.join(','),
    }),
    { clock: { now: () => Date.now() + offset.ms } },
  )
  t.teardown(() => svc.close())
  const http = await startFaultGateway(t, 'http', svc, { upstreamPort: upstream.port, dexPort: dex.directPort })
  const grpc = await startFaultGateway(t, 'grpc', svc, { upstreamPort: upstream.port, dexPort: dex.directPort })

  const secrets = new Set<string>([dex.clientSecret, ...sessionSecrets, ...dex.users.map((user) => user.password)])
  const keep = (value: string | null | undefined) => {
    if (value && value.length >= 8) secrets.add(value)
  }
  /** Every cookie value, code and state an answer carried. */
  const capture = <A extends Pick<Answer, 'status' | 'body' | 'header' | 'setCookies'>>(answer: A): A => {
    for (const line of answer.setCookies()) keep(/^[^=]+=([^;]*)/.exec(line)?.[1])
    const location = answer.header('location')
    if (location) {
      const params = new URL(location, 'http://gateway.invalid').searchParams
      for (const name of ['code', 'state', 'nonce', 'code_challenge', 'id_token_hint']) keep(params.get(name))
    }
    if (answer.status === 200 && answer.body.startsWith('{')) {
      const forwarded = (JSON.parse(answer.body) as EchoedRequest).headers.authorization
      if (typeof forwarded === 'string') keep(forwarded.replace(/^Bearer /, ''))
    }
    return answer
  }
  const forwardedExp = (answer: Answer) => {
    const token = String((JSON.parse(answer.body) as EchoedRequest).headers.authorization).slice(7)
    return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000
  }
  const api = (path: string, headers: Record<string, string>, base = http.envoy.url) => send(`${base}${path}`, { headers: { ...API, ...headers } }).then(capture)

  await t.test('a login, a refresh, a refresh that times out, a refresh Dex refuses', async (t) => {
    const login = await scriptedLogin(http.envoy.url, '/lab?token=query-secret-value', 'alice@example.com', 'alice-password')
    login.hops.forEach(capture)
    keep('query-secret-value')
    const jar = login.jar
    const first = await api('/api/a', { cookie: jar.header() })
    t.equal(first.status, 200)
    // 1.5 s before the ID token expires (the service's clock): due for refresh.
    offset.ms = forwardedExp(first) - 1_500 - Date.now()
    const refreshed = await api('/api/b', { cookie: jar.header() })
    t.equal(refreshed.status, 200, 'refreshed')
    t.ok(refreshed.setCookies().some((line) => line.startsWith('authservice_session=')), 'the renewed session cookie')
    jar.store(refreshed)
    offset.ms = forwardedExp(refreshed) - 1_500 - Date.now()
    dex.proxy.setMode('hang')
    const timedOut = await api('/api/c', { cookie: jar.header() })
    dex.proxy.setMode('pass')
    t.equal(timedOut.status, 200, 'a refresh that timed out keeps the session for now')
    await dex.passwordGrant('alice@example.com').then((tokens) => [tokens.id_token, tokens.access_token, tokens.refresh_token].forEach(keep))
    const ended = await send(`${http.envoy.url}/notebooks/`, { headers: { ...NAVIGATE, cookie: jar.header() } }).then(capture)
    t.equal(ended.status, 302, 'the refresh token Dex revoked ends the session: to login')
    offset.ms = 0
    t.match(svc.rawLogs(), /session refresh failed/, 'the failed refresh was logged (with its error)')
  })

  await t.test('sessions through gRPC, as a cookie and as Authorization: Bearer; logout and sign-out', async (t) => {
    const login = await scriptedLogin(grpc.envoy.url, '/', 'user@example.com', '12341234')
    login.hops.forEach(capture)
    const ticket = login.jar.cookies.get('authservice_session')!
    t.equal((await api('/api/x', { authorization: `Bearer ${ticket}` }, grpc.envoy.url)).status, 200, 'the session as a bearer')
    t.equal((await api('/api/x', { cookie: login.jar.header() }, grpc.envoy.url)).status, 200, 'the session as a cookie')
    t.equal((await send(`${grpc.envoy.url}/authservice/logout`, { method: 'POST', headers: { ...API, authorization: `Bearer ${ticket}` } }).then(capture)).status, 201, 'logout')
    const again = await scriptedLogin(http.envoy.url, '/', 'bob@example.org', 'bob-password')
    again.hops.forEach(capture)
    const out = await send(`${http.envoy.url}/authservice/sign_out?rd=/bye`, { headers: { ...NAVIGATE, 'sec-fetch-site': 'same-origin', cookie: again.jar.header() } }).then(capture)
    t.equal(out.status, 302, 'sign-out')
  })

  await t.test('failed callbacks', async (t) => {
    const pending = await loginUntilCallback(http.envoy.url, '/failed', 'user@example.com', '12341234')
    pending.hops.forEach(capture)
    keep(pending.code)
    keep(pending.state)
    const bogusCode = randomBytes(24).toString('base64url')
    keep(bogusCode)
    const callback = (query: string, cookie = pending.jar.header()) =>
      send(`${http.envoy.url}/authservice/oidc/callback?${query}`, { headers: { ...NAVIGATE, cookie } }).then(capture)
    t.equal((await callback(`code=${bogusCode}&state=${pending.state}`)).status, 400, 'a code Dex refuses')
    t.equal((await callback(`code=${pending.code}&state=${pending.state}x`)).status, 400, 'a state that does not match')
    t.equal((await callback(`error=access_denied&error_description=${bogusCode}&state=${pending.state}`)).status, 403, 'the provider refused')
    t.equal((await callback(`code=${pending.code}&state=${pending.state}`, 'authservice_flow_x=tampered-flow-cookie-value')).status, 400, 'no flow cookie')
    keep('tampered-flow-cookie-value')
  })

  await t.test('bearer tokens, good and hostile', async (t) => {
    const tokens = await dex.passwordGrant('bob@example.org')
    ;[tokens.id_token, tokens.access_token, tokens.refresh_token].forEach(keep)
    t.equal((await api('/api/x', { authorization: `Bearer ${tokens.id_token}` })).status, 200, 'an ID token')
    await api('/api/x', { authorization: `Bearer ${tokens.access_token}` }, grpc.envoy.url)
    const hostile = [
      corruptSignature(tokens.id_token),
      `${tokens.id_token.split('.').slice(0, 2).join('.')}.`,
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${tokens.id_token.split('.')[1]}.`,
      await tokenWithUnknownKid(dex.issuer, dex.clientId),
      tokens.refresh_token!,
      randomBytes(40).toString('base64url'),
      `${tokens.id_token}${tokens.id_token}`,
    ]
    for (const token of hostile) {
      keep(token)
      for (const base of [http.envoy.url, grpc.envoy.url]) {
        t.equal((await api('/api/x', { authorization: `Bearer ${token}` }, base)).status, 401, `refused: ${token.slice(0, 12)}…`)
        await api('/api/x', { cookie: `authservice_session=${token}` }, base)
        await api('/api/x', { 'x-auth-token': token, cookie: `authservice_session.1=${token}; authservice_session.2=${token}` }, base)
      }
    }
  })

  const raw = svc.rawLogs() + http.transportLogs() + grpc.transportLogs()
  const lines = raw.split('\n').filter(Boolean)
  t.ok(lines.length > 50, `the run logged (${lines.length} lines at trace level)`)
  for (const outcome of ['login-complete', 'callback-failed', 'logout', 'allow', 'unauthenticated']) {
    t.match(raw, `"outcome":"${outcome}"`, `decisions of outcome ${outcome} were logged`)
  }
  // Every secret, and every part of a token or sealed cookie long enough to identify it (the
  // first part of a JWT or JWE is only its header: alg, kid).
  const needles = new Set<string>()
  for (const secret of secrets) {
    needles.add(secret)
    const parts = secret.split('.')
    if (parts.length === 3 || parts.length === 5) parts.slice(1).filter((part) => part.length >= 16).forEach((part) => needles.add(part))
  }
  t.ok(secrets.size >= 40, `${secrets.size} secrets captured from the run (${needles.size} strings searched)`)
  const found = [...needles].filter((needle) => raw.includes(needle))
  t.same(found.map((needle) => `${needle.slice(0, 12)}… in: ${lines.find((line) => line.includes(needle))!.slice(0, 300)}`), [], 'none appears in any log line')
})
