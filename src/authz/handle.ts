/**
 * One check, end to end and transport-free: the service's own endpoints (callback, logout,
 * sign-out, after-logout) or the decision, turned into a CheckReply; one log line and the metrics.
 * The HTTP route and the gRPC server both call this and only translate the reply.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Config } from '../config/types.js'
import { parseCookies } from '../login/cookies.js'
import type { createEndpointMatcher } from '../login/endpoints.js'
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

  async function run(request: CheckRequest & { scheme?: string }, cookies: Record<string, string | undefined>): Promise<HandlerResult & { path: string }> {
    // Endpoints and the page to come back to are the user's path, without Envoy's path_prefix.
    const target = stripCheckPathPrefix(request.target, config.checkPathPrefix)
    const { path, query } = splitTarget(target)
    const normalized = normalizePath(path)
    const flowRequest: FlowRequest = { method: request.method, target, query, headers: request.headers, cookies, scheme: schemeOf(request) }
    switch (options.endpoints(request.method, normalized)) {
      case 'callback':
        return { ...(await login.callback(flowRequest)), path: normalized.path }
      case 'logout':
        return { ...(await login.logout(flowRequest)), path: normalized.path }
      case 'sign-out':
        return { ...(await login.signOut(flowRequest)), path: normalized.path }
      case 'after-logout':
        return { ...login.afterLogout(), path: normalized.path }
      case undefined:
        break
    }
    // Parsed and normalised once per check: the decision reuses both.
    const result = await options.check({ ...request, cookies, normalized })
    const { decision } = result
    const user = 'identity' in decision ? decision.identity.userId : undefined
    const common = { outcome: decision.outcome, reason: decision.reason, path: result.path, ...(user ? { user } : {}), ...('codes' in decision ? { codes: decision.codes } : {}) }
    const ended = result.sessionEnded ? clearSessionCookies(config, flowRequest, cookies) : []
    if (decision.outcome === 'login') {
      const started = await login.start(flowRequest, ended)
      // The login handler may answer otherwise (provider unavailable): log what it answered.
      return { ...common, ...started, path: result.path }
    }
    let setCookies: string[] = []
    if (result.renewedTicket) {
      try {
        const maxAge = Math.max(0, Math.floor(((result.renewedExpiresAt as number) - options.clock.now()) / 1000))
        setCookies = writeSessionCookies(config, result.renewedTicket, maxAge, flowRequest, cookies)
      } catch (error) {
        // Too large to send back: the session goes on with the cookie the browser has (refreshed in memory).
        options.logger.warn({ err: error }, 'renewed session not sent back')
      }
    }
    return { reply: options.reply(decision, { setCookies }), ...common }
  }

  return async (request) => {
    const started = process.hrtime.bigint()
    const result = await run(request, parseCookies(request.headers.cookie))
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    options.metrics.observeDecision({ outcome: result.outcome, reason: result.reason }, seconds)
    decisionLog.info(
      {
        outcome: result.outcome,
        reason: result.reason,
        ...(result.codes && result.codes.length > 0 ? { codes: result.codes } : {}),
        ...(result.user ? { user: result.user } : {}),
        method: request.method,
        path: result.path,
        ms: Math.round(seconds * 1e5) / 100,
      },
      'decision',
    )
    return { reply: result.reply, outcome: result.outcome, reason: result.reason }
  }
}
