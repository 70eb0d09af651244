/**
 * The HTTP ext_authz check (Envoy `http_service`): answers every method on every path of the
 * check port. The path is the user's original path and query; the body is ignored (Envoy sends
 * none, but may forward a content-type). The check itself is transport-free (check/handle.ts);
 * this file only translates its CheckReply into Envoy's HTTP contract.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { CheckRequest } from '../check/request.js'
import type { HandledCheck } from '../check/handle.js'
import type { CheckReply } from '../check/respond.js'

export interface CheckRouteOptions {
  handle: (request: CheckRequest) => Promise<HandledCheck>
}

/**
 * A header value as its UTF-8 octets, one character per octet: Node writes header strings as latin1,
 * so this sends exactly the bytes gRPC mode sends for the same string (a proto `string` is UTF-8), and
 * a name outside Latin-1 (`开发组`) is written instead of making Node throw. (identity/header-values.ts
 * has already refused control characters, so every octet is field-value text or obs-text, RFC 9110 §5.5.)
 */
export function utf8Octets(value: string): string {
  // Nearly every value is ASCII (a user id, the forwarded 1 KB ID token), and ASCII is its own UTF-8:
  // counting its bytes natively is cheaper than copying the value through a Buffer on every allow.
  return Buffer.byteLength(value, 'utf8') === value.length ? value : Buffer.from(value, 'utf8').toString('latin1')
}

/** Writes a CheckReply as Envoy's HTTP ext_authz service expects it (envoy-ext-authz.md §1.2). */
export function sendHttpReply(reply: FastifyReply, answer: CheckReply): FastifyReply {
  const setCookies: string[] = []
  if (answer.kind === 'allow') {
    for (const [name, value] of answer.upstreamHeaders) reply.header(name, utf8Octets(value))
    if (answer.removeHeaders.length > 0) reply.header('x-envoy-auth-headers-to-remove', answer.removeHeaders.join(', '))
    for (const [name, value] of answer.responseHeaders) {
      if (name === 'set-cookie') setCookies.push(value)
      else reply.header(name, value)
    }
    if (setCookies.length > 0) reply.header('set-cookie', setCookies)
    return reply.code(200).send()
  }
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
    const handled = await options.handle({
      method: request.method,
      target: request.url,
      headers: request.headers as Record<string, string | undefined>,
    })
    return sendHttpReply(reply, handled.reply)
  }

  app.route({ method: app.supportedMethods.filter((method) => method !== 'QUERY'), url: '/*', handler })
  // fastify refuses a QUERY without Content-Type (RFC 10008 §2) before any route handler runs, and
  // Envoy forwards no body: the check answers it in the route's first hook instead. A hook on this
  // route alone, so no other request pays for it.
  app.route({
    method: 'QUERY',
    url: '/*',
    onRequest: async (request: FastifyRequest, reply: FastifyReply) => (request.headers['content-type'] === undefined ? handler(request, reply) : undefined),
    handler,
  })
  // Methods fastify does not route (PROPFIND, …) get a decision too, never a framework 404.
  app.setNotFoundHandler(handler)
}
