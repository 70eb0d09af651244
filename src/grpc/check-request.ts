/**
 * Envoy's gRPC CheckRequest → the transport-free CheckRequest the checker takes, so both modes feed
 * the same decision the same facts. Field meanings: attribute_context.proto and
 * envoy-ext-authz.md §2.1 — `path` is path + query as received, `headers` has lower-case keys and
 * merged duplicates, and with `encode_raw_headers` the headers come in `header_map` instead (key +
 * raw_value bytes, duplicates kept).
 */
import type { CheckRequest } from '../check/request.js'
import type { CheckRequestMessage, HeaderValueMessage, HttpRequestMessage } from './messages.js'

type Headers = Record<string, string | undefined>

/** Separator for repeated headers: cookies join with "; " (RFC 9113 §8.2.3), others with "," (RFC 9110 §5.3). */
const separator = (name: string) => (name === 'cookie' ? '; ' : ',')

function valueOf(header: HeaderValueMessage): string {
  if (header.value) return header.value
  return header.raw_value ? Buffer.from(header.raw_value).toString('utf8') : ''
}

function headersOf(http: HttpRequestMessage): Headers {
  // No prototype: a client-chosen header name such as `constructor` must not find anything.
  const headers: Headers = Object.create(null) as Headers
  const map = Object.entries(http.headers ?? {})
  if (map.length > 0) {
    for (const [name, value] of map) headers[name.toLowerCase()] = value
    return headers
  }
  for (const header of http.header_map?.headers ?? []) {
    if (!header.key) continue
    const name = header.key.toLowerCase()
    const previous = headers[name]
    headers[name] = previous === undefined ? valueOf(header) : previous + separator(name) + valueOf(header)
  }
  return headers
}

/** The request target as the HTTP mode sees it (path and query); `query` is always empty today. */
function targetOf(http: HttpRequestMessage, headers: Headers): string {
  const path = http.path || headers[':path'] || '/'
  return http.query && !path.includes('?') ? `${path}?${http.query}` : path
}

/** The checker's request; gRPC reports the scheme (HTTP mode relies on x-forwarded-proto). */
export type GrpcCheckRequest = CheckRequest

export function toCheckRequest(message: CheckRequestMessage): GrpcCheckRequest {
  const http = message.attributes?.request?.http ?? {}
  const headers = headersOf(http)
  // The HTTP mode gets Host as a header; gRPC carries it in its own field.
  if (headers.host === undefined && http.host) headers.host = http.host
  const request = { method: http.method || headers[':method'] || '', target: targetOf(http, headers), headers }
  return http.scheme ? { ...request, scheme: http.scheme } : request
}
