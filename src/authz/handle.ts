/**
 * One check, end to end and transport-free: the service's own endpoints (callback, logout,
 * sign-out, after-logout) or the decision, turned into a CheckReply; one log line and the metrics.
 * The HTTP route and the gRPC server both call this and only translate the reply.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import { parseCookies } from '../login/cookies.js'
import type { createEndpointMatcher, Endpoint } from '../login/endpoints.js'
import type { FlowRequest, HandlerResult, LoginHandlers } from '../login/handlers.js'
import { clearSessionCookies, writeSessionCookies } from '../login/session-cookie.js'
import type { Metrics } from '../ops/metrics.js'
import { stripCheckPathPrefix, type CheckRequest, type CheckResult } from './check.js'
import { normalizePath, splitTarget } from './path.js'
import type { CheckReply, ReplyExtras } from './reply.js'
import type { Decision } from './decision.js'

export interface HandledCheck {
  readonly reply: CheckReply
  readonly outcome: string
  readonly reason: string
}

export interface HandleOptions {
  readonly config: Config
  readonly check: (request: CheckRequest) => Promise<CheckResult>
  readonly reply: (decision: Decision, extras?: ReplyExtras) => CheckReply
  readonly endpoints: ReturnType<typeof createEndpointMatcher>
  readonly login: LoginHandlers
  readonly metrics: Metrics
  readonly logger: FastifyBaseLogger
  readonly clock: Clock
}

/** The scheme the client used, as Envoy reports it (x-forwarded-proto; gRPC also sends `scheme`). */
const schemeOf = (request: CheckRequest & { scheme?: string }) => request.scheme || request.headers['x-forwarded-proto']

export function createHandler(options: HandleOptions): (request: CheckRequest & { scheme?: string }) => Promise<HandledCheck> {
  const { config, login } = options
  // The decision line holds only fields built here (outcome, reason, codes, user, method, path
  // without query, ms), never a credential, so it skips pino's redaction, which cost about 11 µs per
  // line (4/5 of the line's cost; bench/ --profile). Every other line keeps REDACTED_PATHS.
  const decisionLog = options.logger.child({}, { redact: [] })

  /** The request as the login handlers see it; only built when one of them is called. */
  const flowRequestOf = (request: CheckRequest & { scheme?: string }, target: string, query: string, cookies: Record<string, string | undefined>): FlowRequest => ({
    method: request.method,
    target,
    query,
    headers: request.headers,
    cookies,
    scheme: schemeOf(request),
  })

  async function endpoint(which: Endpoint, flowRequest: FlowRequest): Promise<HandlerResult> {
    switch (which) {
      case 'callback':
        return login.callback(flowRequest)
      case 'logout':
        return login.logout(flowRequest)
      case 'sign-out':
        return login.signOut(flowRequest)
      case 'after-logout':
        return login.afterLogout()
    }
  }

  async function run(request: CheckRequest & { scheme?: string }, cookies: Record<string, string | undefined>): Promise<HandlerResult & { path: string }> {
    // Endpoints and the page to come back to are the user's path, without Envoy's path_prefix.
    const target = stripCheckPathPrefix(request.target, config.checkPathPrefix)
    const { path, query } = splitTarget(target)
    const normalized = normalizePath(path)
    const which = options.endpoints(request.method, normalized)
    if (which !== undefined) {
      return { ...(await endpoint(which, flowRequestOf(request, target, query, cookies))), path: normalized.path }
    }
    // Parsed and normalised once per check: the decision reuses both.
    const result = await options.check({ method: request.method, target: request.target, headers: request.headers, cookies, normalized })
    const { decision } = result
    const user = 'identity' in decision ? decision.identity.userId : undefined
    const codes = 'codes' in decision ? decision.codes : undefined
    if (decision.outcome === 'login') {
      const flowRequest = flowRequestOf(request, target, query, cookies)
      const ended = result.sessionEnded ? clearSessionCookies(config, flowRequest, cookies) : []
      // The login handler may answer otherwise (provider unavailable): log what it answered.
      const started = await login.start(flowRequest, ended)
      return { reply: started.reply, outcome: started.outcome, reason: started.reason, codes: started.codes ?? codes, user: started.user ?? user, path: result.path }
    }
    let setCookies: readonly string[] | undefined
    if (result.renewedTicket) {
      try {
        const maxAge = Math.max(0, Math.floor(((result.renewedExpiresAt as number) - options.clock.now()) / 1000))
        setCookies = writeSessionCookies(config, result.renewedTicket, maxAge, flowRequestOf(request, target, query, cookies), cookies)
      } catch (error) {
        // Too large to send back: the session goes on with the cookie the browser has (refreshed in memory).
        options.logger.warn({ err: error }, 'renewed session not sent back')
      }
    }
    return { reply: options.reply(decision, setCookies ? { setCookies } : undefined), outcome: decision.outcome, reason: decision.reason, codes, user, path: result.path }
  }

  return async (request) => {
    const started = process.hrtime.bigint()
    const result = await run(request, parseCookies(request.headers.cookie))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    options.metrics.observeDecision(result, seconds)
    // pino leaves out fields that are undefined.
    decisionLog.info(
      {
        outcome: result.outcome,
        reason: result.reason,
        codes: result.codes && result.codes.length > 0 ? result.codes : undefined,
        user: result.user || undefined,
        method: request.method,
        path: result.path,
        ms: Math.round(seconds * 1e5) / 100,
      },
      'decision',
    )
    return { reply: result.reply, outcome: result.outcome, reason: result.reason }
  }
}
