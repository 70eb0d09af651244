/**
 * The HTTP ext_authz check (Envoy `http_service`): answers every method on every path of the
 * check port. The path is the user's original path and query; the body is ignored (Envoy sends
 * none, but may forward a content-type). Writes one decision log line and the metrics.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CheckRequest, CheckResult } from '../authz/check.js'
import type { CheckReply } from '../authz/reply.js'
import type { Decision } from '../authz/decision.js'
import type { Metrics } from '../ops/metrics.js'

export interface CheckRouteOptions {
  check: (request: CheckRequest) => Promise<CheckResult>
  reply: (decision: Decision) => CheckReply
  metrics: Metrics
}

/** Writes a CheckReply as Envoy's HTTP ext_authz service expects it. */
export function sendHttpReply(reply: FastifyReply, answer: CheckReply): FastifyReply {
  if (answer.kind === 'allow') {
    for (const [name, value] of answer.upstreamHeaders) reply.header(name, value)
    if (answer.removeHeaders.length > 0) reply.header('x-envoy-auth-headers-to-remove', answer.removeHeaders.join(', '))
    for (const [name, value] of answer.responseHeaders) reply.header(name, value)
    return reply.code(200).send()
  }
  const setCookies: string[] = []
  for (const [name, value] of answer.headers) {
    if (name === 'set-cookie') setCookies.push(value)
    else reply.header(name, value)
  }
  if (setCookies.length > 0) reply.header('set-cookie', setCookies)
  return reply.code(answer.status).send(answer.body)
}

export async function checkRoutes(app: FastifyInstance, options: CheckRouteOptions): Promise<void> {
  // Envoy forwards the client's content-type with an empty body; never parse it.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume()
    payload.on('end', () => done(null, undefined))
  })

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const started = process.hrtime.bigint()
    const result = await options.check({
      method: request.method,
      target: request.url,
      headers: request.headers as Record<string, string | undefined>,
    })
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const { decision } = result
    options.metrics.observeDecision(decision, seconds)
    request.log.info(
      {
        outcome: decision.outcome,
        reason: decision.reason,
        ...('codes' in decision && decision.codes.length > 0 ? { codes: decision.codes } : {}),
        ...('identity' in decision ? { user: decision.identity.userId } : {}),
        method: request.method,
        path: result.path,
        ms: Math.round(seconds * 1e5) / 100,
      },
      'decision',
    )
    return sendHttpReply(reply, options.reply(decision))
  }

  app.route({ method: app.supportedMethods, url: '/*', handler })
  // Methods fastify does not route (PROPFIND, …) get a decision too, never a framework 404.
  app.setNotFoundHandler(handler)
}
