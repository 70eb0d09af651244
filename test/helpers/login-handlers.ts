/**
 * The login handlers' test harness: a Kubeflow configuration, a stub session store, token endpoint
 * and verifier with knobs to make them fail, a real login-flow key ring, and helpers to read the
 * replies and to walk a login up to its callback. `loginHarness` takes the factory under test
 * (createLoginFlow, createLogout or createLoginHandlers), so each unit test drives its own module;
 * each result is also rendered by the service's responder (check/respond.ts) as `reply`, so the tests
 * assert what the user's browser receives.
 */
import type { JWTPayload } from 'jose'
import { createResponder, type CheckReply, type HeaderList } from '../../src/check/respond.js'
import type { Config } from '../../src/config/types.js'
import { SessionStoreUnavailableError, TokenRejectedError } from '../../src/errors.js'
import { FLOW_COOKIE_PREFIX } from '../../src/login/flow.js'
import type { FlowRequest, LoginHandlerOptions, LoginResult } from '../../src/login/results.js'
import type { LoginHandlers } from '../../src/login/handlers.js'
import type { CodeExchange, TokenClient, TokenResponse } from '../../src/oidc/token-client.js'
import type { TokenVerifier, VerifiedToken } from '../../src/oidc/token-verifier.js'
import { deriveKeys } from '../../src/session/keys.js'
import type { Session } from '../../src/session/session.js'
import type { SessionStore } from '../../src/session/store.js'
import { kubeflowConfig } from '../fixtures/config.js'

export const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
export const NOW = 1_750_000_000_000
export const HOUR = 3_600_000
export const ORIGIN = 'https://kubeflow.example.com'

/** A Kubeflow manifest's settings (OIDC_AUTH_URL=/dex/auth, REDIRECT_URL=/authservice/oidc/callback), redis sessions. */
const config = (overrides: Partial<Config> = {}): Config =>
  kubeflowConfig({
    scopes: ['openid', 'email', 'groups', 'profile', 'offline_access'],
    afterLogoutUrl: '/authservice/site/after_logout',
    sessionStoreType: 'redis',
    redisAddr: '127.0.0.1:6379',
    ...overrides,
  })

/** Dex's ID-token claims for alice, as the verifier returns them (the nonce is the flow's). */
function aliceClaims(nonce: string | undefined): JWTPayload {
  return {
    iss: ISSUER,
    sub: 'CgVhbGljZRIFbG9jYWw',
    aud: 'kubeflow-oidc-authservice',
    iat: NOW / 1000,
    exp: NOW / 1000 + 3600,
    nonce,
    at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['team-a'],
    name: 'Alice',
  }
}

export interface HarnessOptions {
  readonly config?: Partial<Config>
  readonly authorization?: string | undefined
  readonly endSession?: string | undefined
  /** Sessions the store already holds, by ticket. */
  readonly sessions?: Record<string, Session>
}

/** A login result with the answer the responder makes of it. */
export type RenderedResult = LoginResult & { readonly reply: CheckReply }

/** The handlers with every result rendered: what the check would answer. */
export type Rendered<H> = {
  [K in keyof H]: H[K] extends (...args: infer A) => Promise<LoginResult>
    ? (...args: A) => Promise<RenderedResult>
    : H[K] extends (...args: infer A) => LoginResult
      ? (...args: A) => RenderedResult
      : H[K]
}

function rendered<H extends object>(handlers: H, config: Config): Rendered<H> {
  const respond = createResponder({ ...config, retryAfterSeconds: 5 })
  const render = (result: LoginResult): RenderedResult => ({ ...result, reply: respond(result) })
  const out: Record<string, unknown> = {}
  for (const [name, handler] of Object.entries(handlers)) {
    out[name] = (...args: unknown[]) => {
      const result = (handler as (...args: unknown[]) => LoginResult | Promise<LoginResult>)(...args)
      return result instanceof Promise ? result.then(render) : render(result)
    }
  }
  return out as Rendered<H>
}

export function loginHarness<H extends object>(create: (options: LoginHandlerOptions) => H, options: HarnessOptions = {}) {
  let now = NOW
  const cfg = config(options.config)
  const flowRing = deriveKeys({ sessionSecrets: [], clientSecret: cfg.clientSecret }, 'login-flow')
  const sessions = new Map(Object.entries(options.sessions ?? {}))
  const saved: Session[] = []
  const removed: string[] = []
  const revoked: string[] = []
  const exchanges: Array<[code: string | null, redirectUri: string, codeVerifier: string]> = []
  /** Each exchange as the token client received it (the callback as received, this flow's state and nonce). */
  const codeExchanges: CodeExchange[] = []
  const counts = { loads: 0 }
  const knobs = {
    storeDown: false,
    storeBug: false,
    removeFails: false,
    hugeTicket: false,
    exchange: undefined as Error | undefined,
    tokens: { idToken: 'dex.id.token', refreshToken: 'dex-refresh' } as TokenResponse,
    verify: undefined as Error | undefined,
    nonce: undefined as string | undefined,
    claims: {} as JWTPayload,
  }
  let issued = 0
  const store: SessionStore = {
    kind: 'redis',
    async save(session) {
      if (knobs.storeDown) throw new SessionStoreUnavailableError()
      if (knobs.storeBug) throw new TypeError('store bug')
      saved.push(session)
      const ticket = knobs.hugeTicket ? 'x'.repeat(40_000) : `ticket-${++issued}`
      sessions.set(ticket, session)
      return ticket
    },
    async load(ticket, nowMs) {
      counts.loads++
      if (knobs.storeDown) throw new SessionStoreUnavailableError()
      if (knobs.storeBug) throw new TypeError('store bug')
      const session = sessions.get(ticket)
      return session !== undefined && session.expiresAt > nowMs ? session : undefined
    },
    async remove(ticket) {
      removed.push(ticket)
      if (knobs.removeFails) throw new SessionStoreUnavailableError()
      sessions.delete(ticket)
    },
    exclusive: async (_id, work) => work(),
    async close() {},
  }
  const tokens: TokenClient = {
    async exchangeCode(exchange) {
      codeExchanges.push(exchange)
      exchanges.push([new URLSearchParams(exchange.callbackQuery).get('code'), exchange.redirectUri, exchange.codeVerifier])
      if (knobs.exchange) throw knobs.exchange
      return knobs.tokens
    },
    async refresh() {
      throw new Error('not used')
    },
    async revoke(refreshToken) {
      revoked.push(refreshToken)
    },
  }
  const verifier: TokenVerifier = {
    async check(token): Promise<VerifiedToken | TokenRejectedError> {
      if (knobs.verify instanceof TokenRejectedError) return knobs.verify
      if (knobs.verify) throw knobs.verify
      const claims = { ...aliceClaims(knobs.nonce), ...knobs.claims }
      return { token, issuer: ISSUER, primary: true, claims, expiresAtMs: (claims.exp as number) * 1000 }
    },
  }
  const handlers = rendered(create({
    config: cfg,
    clock: { now: () => now },
    flowRing,
    store,
    tokens,
    verifier,
    identityRules: cfg,
    identityClaims: [cfg.userIdClaim, cfg.groupsClaim],
    endpoints: {
      authorization: () => ('authorization' in options ? options.authorization : '/dex/auth'),
      endSession: () => options.endSession,
    },
  }), cfg)
  return { handlers, config: cfg, flowRing, knobs, saved, removed, revoked, exchanges, codeExchanges, counts, sessions, setNow: (ms: number) => (now = ms) }
}

export type Harness<H extends object> = ReturnType<typeof loginHarness<H>>

export function request(overrides: Partial<FlowRequest> = {}): FlowRequest {
  return { method: 'GET', target: '/', query: '', headers: {}, cookies: {}, scheme: 'https', ...overrides }
}

export function callbackRequest(query: string, cookies: Record<string, string | undefined> = {}, headers: FlowRequest['headers'] = {}): FlowRequest {
  return request({ target: `/authservice/oidc/callback?${query}`, query, cookies, headers })
}

export function header(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value)
}

export function asDeny(reply: CheckReply) {
  if (reply.kind !== 'deny') throw new Error('every login reply must be a deny: a 200 would reach the upstream')
  return reply
}

export const cookieName = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('='))
const isClear = (setCookie: string) => setCookie.includes('Max-Age=0')
export const setCookies = (reply: CheckReply) => header(asDeny(reply).headers, 'set-cookie')
export const clearedNames = (reply: CheckReply) => setCookies(reply).filter(isClear).map(cookieName)

/** Starts a login for `target` and returns what the browser takes to the IdP and back. */
export async function startLogin(h: { handlers: Pick<Rendered<LoginHandlers>, 'start'>; knobs: Harness<LoginHandlers>['knobs'] }, target = '/jupyter/?ns=kubeflow-user', overrides: Partial<FlowRequest> = {}) {
  const result = await h.handlers.start(request({ target, ...overrides }))
  const reply = asDeny(result.reply)
  const location = header(reply.headers, 'location')[0]!
  const params = new URL(location, ORIGIN).searchParams
  const state = params.get('state')!
  const flowSetCookie = setCookies(reply).find((cookie) => cookie.startsWith(FLOW_COOKIE_PREFIX) && !isClear(cookie))!
  const pair = flowSetCookie.slice(0, flowSetCookie.indexOf(';'))
  const name = cookieName(pair)
  const sealed = pair.slice(name.length + 1)
  h.knobs.nonce = params.get('nonce')!
  return { result, reply, location, params, state, name, sealed, flowSetCookie, cookies: { [name]: sealed } }
}

/** A complete login up to the callback request (not sent). */
export async function loginUntilCallback(h: { handlers: Pick<Rendered<LoginHandlers>, 'start'>; knobs: Harness<LoginHandlers>['knobs'] }, target?: string) {
  const login = await startLogin(h, target)
  return { login, callback: callbackRequest(`code=dex-auth-code&state=${encodeURIComponent(login.state)}`, login.cookies) }
}
