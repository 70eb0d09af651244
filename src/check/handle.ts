/**
 * One check, end to end and transport-free: the service's own endpoints (callback, logout,
 * sign-out, after-logout; the user page once the check allowed it) or the decision — one verdict, turned into a CheckReply by the responder;
 * one log line and the metrics. The HTTP route and the gRPC server both call this and only
 * translate the reply.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import type { FlowRequest, LoginHandlers, LoginResult } from '../login/handlers.js'
import { createAllowGate, type AllowLine } from '../log/allow-sampling.js'
import type { Metrics } from '../ops/metrics.js'
import { parseCookies } from '../session/cookies.js'
import { clearSessionCookies, writeSessionCookies } from '../session/session-cookie.js'
import type { createEndpointMatcher, Endpoint } from './endpoints.js'
import { normalizePath, splitTarget } from './path.js'
import type { CheckOptions, CheckResult } from './pipeline.js'
import { stripCheckPathPrefix, type CheckRequest } from './request.js'
import type { CheckReply, ReplyExtras, Verdict } from './respond.js'
import { createUserPage, isUserPageEndpoint, type UserPageEndpoint } from './user-page.js'

export interface HandledCheck {
  readonly reply: CheckReply
  readonly outcome: string
  readonly reason: string
}

/**
 * A check replayed without side effects (`authservice explain`): the pipeline's dry run with its
 * trace, and the reply the service would give, built by the same code as handle's. The service's
 * own endpoints are named, not run: a callback would spend its code, a logout end a session, the
 * token endpoint hand out a token. The user page is checked like any path, and rendered when allowed.
 */
export type ReplayedCheck =
  | { readonly endpoint: Endpoint; readonly path: string }
  | { readonly endpoint?: undefined; readonly reply: CheckReply; readonly verdict: Verdict; readonly result: CheckResult }

export interface HandleOptions {
  readonly config: Config
  readonly check: (request: CheckRequest, options?: CheckOptions) => Promise<CheckResult>
  readonly respond: (verdict: Verdict, extras?: ReplyExtras) => CheckReply
  readonly endpoints: ReturnType<typeof createEndpointMatcher>
  readonly login: LoginHandlers
  readonly metrics: Metrics
  readonly logger: FastifyBaseLogger
  readonly clock: Clock
}

/** What one check produced, before it is logged and counted. */
interface Handled {
  readonly verdict: Verdict
  readonly path: string
  readonly setCookies?: readonly string[]
  /** The pipeline's result, when the check ran (not for the service's own endpoints). */
  readonly result?: CheckResult
}

const SERVICE_RUN: CheckOptions = { dryRun: false, trace: false }
const REPLAY: CheckOptions = { dryRun: true, trace: true }

/** One check as handle and replay share it; `replay` names an endpoint instead of running it. */
function createRun(options: Omit<HandleOptions, 'respond' | 'metrics' | 'logger'>) {
  const { config, login } = options
  const userPage = createUserPage(config)

  /** The request as the login handlers see it; only built when one of them is called. */
  const flowRequestOf = (request: CheckRequest, target: string, query: string, cookies: Record<string, string | undefined>): FlowRequest => ({
    method: request.method,
    target,
    query,
    headers: request.headers,
    cookies,
    // The scheme the client used, as Envoy reports it (gRPC's own field wins over x-forwarded-proto).
    scheme: request.scheme || request.headers['x-forwarded-proto'],
  })

  async function endpoint(which: Exclude<Endpoint, UserPageEndpoint>, flowRequest: FlowRequest): Promise<LoginResult> {
    switch (which) {
      case 'callback':
        return login.callback(flowRequest)
      case 'logout':
        return login.logout(flowRequest)
      case 'sign-out':
        return login.signOut(flowRequest)
      case 'after-logout':
        return login.afterLogout()
      case 'start':
        // The page to come back to is `rd` (login.start keeps it only if it is a safe relative path).
        return login.start({ ...flowRequest, target: new URLSearchParams(flowRequest.query).get('rd') ?? '/' })
    }
  }

  return async function run(request: CheckRequest, cookies: Record<string, string | undefined>, replay: boolean, warn: (error: unknown) => void): Promise<Handled | { endpoint: Endpoint; path: string }> {
    // Endpoints and the page to come back to are the user's path, without Envoy's path_prefix.
    const target = stripCheckPathPrefix(request.target, config.checkPathPrefix)
    const { path, query } = splitTarget(target)
    const normalized = normalizePath(path)
    const which = options.endpoints(request.method, normalized)
    let userEndpoint: UserPageEndpoint | undefined
    if (isUserPageEndpoint(which)) {
      if (replay && which === 'user-token') return { endpoint: which, path: normalized.path }
      const refused = userPage.gate(which, request.headers)
      if (refused) return { verdict: refused, path: normalized.path }
      userEndpoint = which
    } else if (which !== undefined) {
      if (replay) return { endpoint: which, path: normalized.path }
      return { verdict: await endpoint(which, flowRequestOf(request, target, query, cookies)), path: normalized.path }
    }
    // Parsed and normalised once per check: the decision reuses both.
    const result = await options.check({ method: request.method, target: request.target, headers: request.headers, cookies, normalized }, replay ? REPLAY : SERVICE_RUN)
    const { decision } = result
    if (decision.outcome === 'login') {
      const flowRequest = flowRequestOf(request, target, query, cookies)
      const ended = result.sessionEnded ? clearSessionCookies(config, flowRequest, cookies) : []
      // The login start may answer otherwise (provider unavailable): that is what is logged.
      const started = await login.start(flowRequest, ended)
      return { verdict: { ...started, codes: started.codes ?? decision.codes }, path: result.path, result }
    }
    // An allowed request for the user page gets the page (with the renewed cookie), not the upstream.
    const answered = (setCookies?: readonly string[]): Handled =>
      userEndpoint !== undefined && decision.outcome === 'allow'
        ? { verdict: userPage.answer(userEndpoint, decision.identity, request.headers, setCookies ?? []), path: result.path, result }
        : { verdict: decision, path: result.path, ...(setCookies ? { setCookies } : {}), result }
    if (result.renewedTicket === undefined) return answered()
    try {
      const maxAge = Math.max(0, Math.floor(((result.renewedExpiresAt as number) - options.clock.now()) / 1000))
      return answered(writeSessionCookies(config, result.renewedTicket, maxAge, flowRequestOf(request, target, query, cookies), cookies))
    } catch (error) {
      // Too large to send back: the session goes on with the cookie the browser has (refreshed in memory).
      warn(error)
      return answered()
    }
  }
}

/** The replay of one check (see ReplayedCheck): nothing is changed, logged or counted. */
export function createReplayer(options: Omit<HandleOptions, 'metrics' | 'logger'>): (request: CheckRequest) => Promise<ReplayedCheck> {
  const run = createRun(options)
  return async (request) => {
    const handled = await run(request, parseCookies(request.headers.cookie), true, () => undefined)
    if ('endpoint' in handled) return handled
    return { reply: options.respond(handled.verdict), verdict: handled.verdict, result: handled.result as CheckResult }
  }
}

/** Every answer other than an allow is logged at info, whatever LOG_ALLOW_DECISIONS says. */
const ALWAYS: AllowLine = { level: 'info' }

export function createHandler(options: HandleOptions): (request: CheckRequest) => Promise<HandledCheck> {
  const run = createRun(options)
  // The decision line holds only fields built here (outcome, reason, codes, user, request kind,
  // credential source and fingerprint, method, path without query, ms), never a credential, so it
  // skips pino's redaction, which cost about 11 µs per line (4/5 of the line's cost; npm run bench
  // -- --profile). Every other line keeps REDACTED_PATHS.
  const decisionLog = options.logger.child({}, { redact: [] })
  const warn = (error: unknown) => options.logger.warn({ err: error }, 'renewed session not sent back')
  const allowLine = createAllowGate(options.config.logAllowDecisions)

  return async (request) => {
    const started = process.hrtime.bigint()
    const { verdict, path, setCookies, result } = (await run(request, parseCookies(request.headers.cookie), false, warn)) as Handled
    const reply = options.respond(verdict, setCookies ? { setCookies } : undefined)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    options.metrics.observeDecision(verdict, seconds)
    // An allowed or forbidden identity may note what was set aside in it (a group name that cannot be a header).
    const codes = 'codes' in verdict ? verdict.codes : 'identity' in verdict ? verdict.identity.codes : undefined
    const user = 'identity' in verdict ? verdict.identity.userId : 'user' in verdict ? verdict.user : undefined
    // Allows (and skip paths) as LOG_ALLOW_DECISIONS says; every other answer always.
    const line = verdict.outcome === 'allow' || verdict.outcome === 'skip' ? allowLine() : ALWAYS
    if (line === undefined) return { reply, outcome: verdict.outcome, reason: verdict.reason }
    // pino leaves out fields that are undefined.
    decisionLog[line.level](
      {
        outcome: verdict.outcome,
        reason: verdict.reason,
        codes: codes && codes.length > 0 ? codes : undefined,
        user: user || undefined,
        // What `authservice explain --log-line` needs to identify the request without its secrets.
        kind: result?.decision.kind,
        source: result?.presented?.source,
        credential: result?.presented?.fingerprint,
        method: request.method,
        path,
        ms: Math.round(seconds * 1e5) / 100,
        sampled: line.sampled,
      },
      'decision',
    )
    return { reply, outcome: verdict.outcome, reason: verdict.reason }
  }
}
