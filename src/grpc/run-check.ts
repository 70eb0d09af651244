/**
 * One check, whatever the transport: run the shared checker, record the metrics, write the one
 * decision log line, and build the transport-free CheckReply. The gRPC server uses it; the HTTP
 * route (http/check-route.ts) does the same inline today and can switch to it unchanged, so both
 * modes log and count decisions identically.
 */
import type { FastifyBaseLogger } from 'fastify'
import type { CheckRequest, CheckResult } from '../authz/check.js'
import type { Decision } from '../authz/decision.js'
import type { CheckReply } from '../authz/reply.js'
import type { Metrics } from '../ops/metrics.js'

export interface CheckRunnerDependencies {
  readonly check: (request: CheckRequest) => Promise<CheckResult>
  readonly reply: (decision: Decision) => CheckReply
  readonly metrics: Metrics
}

export type CheckRunner = (request: CheckRequest, log: Pick<FastifyBaseLogger, 'info'>) => Promise<CheckReply>

/** The fields of the decision line: no token, cookie or query string ever (README "Logs and metrics"). */
export function decisionLogFields(request: CheckRequest, result: CheckResult, seconds: number): Record<string, unknown> {
  const { decision } = result
  return {
    outcome: decision.outcome,
    reason: decision.reason,
    ...('codes' in decision && decision.codes.length > 0 ? { codes: decision.codes } : {}),
    ...('identity' in decision ? { user: decision.identity.userId } : {}),
    method: request.method,
    path: result.path,
    ms: Math.round(seconds * 1e5) / 100,
  }
}

export function createCheckRunner(deps: CheckRunnerDependencies): CheckRunner {
  return async (request, log) => {
    const started = process.hrtime.bigint()
    const result = await deps.check(request)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    deps.metrics.observeDecision(result.decision, seconds)
    log.info(decisionLogFields(request, result, seconds), 'decision')
    return deps.reply(result.decision)
  }
}
