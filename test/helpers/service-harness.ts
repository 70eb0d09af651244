/**
 * The service in process for unit tests: createService with a fake provider behind the injected
 * fetch (discovery, keys, token and revocation endpoints, for a key generated here), a clock that
 * stands still, and a cookie session store, driven through service.checkApp with inject().
 */
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import type { Config } from '../../src/config/types.js'
import { createLogger } from '../../src/log/logger.js'
import type { Fetch } from '../../src/oidc/fetch.js'
import { createService, type KubernetesCredentials, type Service } from '../../src/service.js'
import { createCookieStore } from '../../src/session/cookie-store.js'
import type { Session } from '../../src/session/session.js'
import { writeSessionCookies } from '../../src/session/session-cookie.js'
import type { SessionStore } from '../../src/session/store.js'
import { ringOf } from '../contracts/session-store.js'
import { kubeflowConfig } from '../fixtures/config.js'
import { createTestKey, dexDiscoveryDocument, signCompact, type Claims, type TestKey } from './test-issuer.js'

/**
 * Fixed for the whole file. Today rather than any instant: openid-client checks a refreshed ID
 * token's `exp` against the system clock, which the service does not inject.
 */
export const NOW = Math.floor(Date.now() / 1000) * 1000
export const config = (overrides: Partial<Config> = {}): Config => kubeflowConfig(overrides)
export const ISSUER = config().issuer
export const SUB = 'Cg5hbGljZS1leGFtcGxlEgVsb2NhbA'

export interface ProviderCall {
  readonly url: string
  readonly method: string
  readonly headers: Record<string, string>
  readonly body: string | undefined
}

/** The provider's signing key, one for the file (RSA key generation is the slow part). */
export const KEY = await createTestKey()

/** A Dex-like provider behind a Fetch: each issuer's discovery and keys, and the primary's token and revocation endpoints. */
export function fakeProvider(issuers: readonly string[] = [ISSUER]) {
  let published: readonly TestKey[] = [KEY]
  const calls: ProviderCall[] = []
  let down = false
  let tokenAnswer: () => Promise<Response> = async () => Response.json({ error: 'invalid_request' }, { status: 400 })
  const fetch: Fetch = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method ?? 'GET', headers: { ...init.headers }, body: init.body })
    if (down) return Response.json({ error: 'unavailable' }, { status: 503 })
    for (const issuer of issuers) {
      if (url === `${issuer}/.well-known/openid-configuration`) {
        // Dex advertises neither of the last two; other providers do, and the service uses them when there.
        return Response.json({ ...dexDiscoveryDocument(issuer), revocation_endpoint: `${issuer}/revoke`, end_session_endpoint: `${issuer}/logout` })
      }
      if (url === `${issuer}/keys`) return Response.json({ keys: published.map((key) => key.publicJwk) })
    }
    if (url === `${ISSUER}/token`) return tokenAnswer()
    if (url === `${ISSUER}/revoke`) return new Response(null, { status: 200 })
    return Response.json({ error: 'not found' }, { status: 404 })
  }
  const claims = (overrides: Claims = {}): Claims => ({
    iss: ISSUER,
    aud: config().clientId,
    sub: SUB,
    email: 'alice@example.com',
    email_verified: true,
    groups: ['team-a'],
    iat: NOW / 1000,
    exp: NOW / 1000 + 600,
    ...overrides,
  })
  return {
    fetch,
    calls,
    claims,
    /** An ID token signed with `key` (default: the one published from the start). */
    sign: (overrides: Claims = {}, key: TestKey = KEY) => signCompact({ alg: 'RS256', kid: key.kid }, claims(overrides), key),
    /** The keys the JWKS lists from now on. */
    publish: (...keys: TestKey[]) => (published = keys),
    setDown: (value: boolean) => (down = value),
    answerToken: (answer: () => Promise<Response>) => (tokenAnswer = answer),
  }
}

export function capture() {
  let raw = ''
  const logger = createLogger('info', new Writable({ write: (chunk: Buffer, _encoding, done) => ((raw += chunk.toString()), done()) }))
  return { logger, lines: () => raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>) }
}

export interface Harness {
  readonly service: Service
  readonly store: SessionStore & { closed: boolean }
  readonly lines: () => Array<Record<string, unknown>>
}

/** A service on `fetch` with a cookie session store of its own (noting close()); closed with `t`. */
export function serviceOf(
  t: Test,
  fetch: Fetch,
  options: { config?: Partial<Config>; kubernetes?: KubernetesCredentials; now?: () => number; injectStore?: boolean } = {},
): Harness {
  const { logger, lines } = capture()
  const cookieStore = createCookieStore({ ring: ringOf('service-test') })
  const store = Object.assign(Object.create(cookieStore) as SessionStore, {
    closed: false,
    async close() {
      store.closed = true
      await cookieStore.close()
    },
  })
  const service = createService(config(options.config), {
    logger,
    clock: { now: options.now ?? (() => NOW) },
    fetch,
    ...(options.kubernetes ? { kubernetes: options.kubernetes } : {}),
    ...(options.injectStore === false ? {} : { sessionStore: store }),
  })
  t.teardown(() => service.close())
  return { service, store, lines }
}

export const check = (service: Service, target: string, headers: Record<string, string> = {}) =>
  service.checkApp.inject({ method: 'GET', url: target, headers: { host: 'kubeflow.example.com', 'x-forwarded-proto': 'https', ...headers } })
export const NAVIGATION = { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' }

/** A session of the provider's user, as the login would have stored it, and the Cookie header carrying it. */
export async function signedIn(harness: Harness, provider: ReturnType<typeof fakeProvider>, idTokenExpiresAt: number) {
  const claims = { iss: ISSUER, sub: SUB, email: 'alice@example.com', email_verified: true, groups: ['team-a'], iat: NOW / 1000 - 3_000 }
  const session: Session = {
    id: 'alice-session',
    claims,
    idToken: await provider.sign({ iat: claims.iat, exp: idTokenExpiresAt / 1000 }),
    refreshToken: 'dex-refresh-token',
    idTokenExpiresAt,
    createdAt: NOW - 3_000_000,
    expiresAt: NOW + 3_600_000,
  }
  const ticket = await harness.service.sessionStore.save(session, NOW)
  const cookies = writeSessionCookies(config(), ticket, 3_600, { scheme: 'https' }, {})
  return { session, cookie: cookies.map((line) => line.split(';')[0]).join('; ') }
}

