/**
 * The anchor the performance issue (#9) sets the targets against, run in the same bench: "a
 * straightforward fastify + jose RS256 check", optionally with "a naive token cache". It verifies
 * the bearer JWT with jose's jwtVerify against the issuer's JWKS (signature, iss, aud, exp, alg
 * RS256), answers 200 with the identity headers our check returns (kubeflow-userid,
 * kubeflow-groups, the token echoed as `authorization`), 401 otherwise, and writes one pino line per
 * check with pino's defaults — logging stays on, as for the service.
 *
 * What it leaves out (so it is a floor for a real check, not a peer): no session cookies, no
 * login flow, no skip paths or request classification, no metrics, no policy (groups, domains),
 * no shape checks before parsing, no bound on the cache (a Map keyed by the token itself, entries
 * dropped only when found expired).
 *
 * Usage: node dev/bench/anchor-server.mjs <httpPort> <issuer URL> <audience> <cache|no-cache>
 * (stdout carries the log lines; the bench sends it to /dev/null and waits for the port)
 */
import Fastify from 'fastify'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import pino from 'pino'

const [portArg, issuer, audience, cacheArg] = process.argv.slice(2)
if (!portArg || !issuer || !audience || (cacheArg !== 'cache' && cacheArg !== 'no-cache')) {
  throw new Error('usage: anchor-server.mjs <httpPort> <issuer URL> <audience> <cache|no-cache>')
}
const useCache = cacheArg === 'cache'
const keys = createRemoteJWKSet(new URL(`${issuer}/keys`))
const log = pino()
const cache = new Map()

async function identityOf(token) {
  const cached = useCache ? cache.get(token) : undefined
  if (cached && cached.expMs > Date.now()) return cached
  const { payload } = await jwtVerify(token, keys, { issuer, audience, algorithms: ['RS256'] })
  const identity = { user: String(payload.email), groups: Array.isArray(payload.groups) ? payload.groups.join(',') : '', expMs: payload.exp * 1000 }
  if (useCache) cache.set(token, identity)
  return identity
}

const app = Fastify({ logger: false })
app.get('/*', async (request, reply) => {
  const header = request.headers.authorization
  const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined
  let identity
  try {
    identity = token === undefined ? undefined : await identityOf(token)
  } catch {
    identity = undefined
  }
  log.info({ user: identity?.user, method: request.method, path: request.url.split('?')[0], allowed: identity !== undefined }, 'check')
  if (identity === undefined) return reply.code(401).send({ error: 'unauthenticated' })
  return reply.headers({ 'kubeflow-userid': identity.user, 'kubeflow-groups': identity.groups, authorization: header }).code(200).send()
})
await app.listen({ host: '127.0.0.1', port: Number(portArg) })

const stop = () => void app.close().then(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
