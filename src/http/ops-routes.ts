/**
 * Operations endpoints on READINESS_PROBE_PORT, never on the check port (there, any path is a
 * user's path and a 200 would mean "allow"): `/healthz` (the process is alive), `/readyz` and `/`
 * (Kubeflow's existing probe calls `/`; ready once discovery and keys loaded, and it stays ready
 * while keys are cached, so an IdP outage does not take every replica out), `/metrics`.
 */
import type { FastifyInstance } from 'fastify'
import type { Metrics } from '../ops/metrics.js'

export interface OpsRouteOptions {
  isReady: () => boolean
  metrics: Metrics
}

export async function opsRoutes(app: FastifyInstance, options: OpsRouteOptions): Promise<void> {
  app.get('/healthz', async (_request, reply) => reply.code(200).send({ status: 'ok' }))
  const readiness = async (_request: unknown, reply: import('fastify').FastifyReply) =>
    options.isReady()
      ? reply.code(200).send({ status: 'ready' })
      : reply.code(503).send({ status: 'not ready', reason: 'identity provider discovery or keys not loaded yet' })
  app.get('/readyz', readiness)
  app.get('/', readiness)
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', options.metrics.registry.contentType).send(await options.metrics.registry.metrics()),
  )
}
