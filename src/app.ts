/**
 * Builds the two fastify instances from injected dependencies; no I/O at import or build time.
 * - the check server (SERVER_PORT): Envoy's ext_authz HTTP service, any method, any path;
 * - the ops server (READINESS_PROBE_PORT): health, readiness, metrics.
 * server.ts wires real dependencies and listens; tests wire their own.
 */
import { createServer } from 'node:http'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { CheckRequest } from './check/request.js'
import { CHECK_FAILED_REPLY } from './check/respond.js'
import type { HandledCheck } from './check/handle.js'
import { checkRoutes, sendHttpReply } from './http/check-route.js'
import { opsRoutes } from './http/ops-routes.js'
import type { Metrics } from './ops/metrics.js'

export interface CheckAppDependencies {
  logger: FastifyBaseLogger
  /** The transport-free check (check/handle.ts). */
  handle: (request: CheckRequest) => Promise<HandledCheck>
}

export interface OpsAppDependencies {
  logger: FastifyBaseLogger
  metrics: Metrics
  isReady: () => boolean
}

/**
 * Above Envoy's 60 KiB default request-header limit, so an oversized credential gets our 401
 * instead of a dropped connection (which Envoy would turn into a bare 403).
 */
export const MAX_HEADER_BYTES = 96 * 1024

export function buildCheckApp(deps: CheckAppDependencies): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One decision line per check instead of fastify's request lines.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (~1.6 µs each, with redaction of its bindings): request.log is
    // only used by the error handler below, which needs no request id.
    childLoggerFactory: (logger) => logger,
    // A 503 while closing would reach the user as Envoy's bare 403; in-flight checks finish instead.
    return503OnClosing: false,
    bodyLimit: 1024,
    routerOptions: { maxParamLength: MAX_HEADER_BYTES, ignoreDuplicateSlashes: false, ignoreTrailingSlash: false },
    serverFactory: (handler) => createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler),
  })
  void app.register(checkRoutes, { handle: deps.handle })
  // A failure in the check itself must still be an answer, never a 5xx: deny, log the bug.
  app.setErrorHandler((error, request, reply) => {
    request.log.error({ err: error }, 'check failed; denying')
    return sendHttpReply(reply, CHECK_FAILED_REPLY)
  })
  return app
}

export function buildOpsApp(deps: OpsAppDependencies): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.logger, logController: new LogController({ disableRequestLogging: true }) })
  void app.register(opsRoutes, { isReady: deps.isReady, metrics: deps.metrics })
  return app
}
