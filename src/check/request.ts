/**
 * The request Envoy asks about, and the facts read from it once per check: the user's path
 * without Envoy's `path_prefix`, normalised, and the cookies parsed once for every reader.
 */
import type { NormalizedPath } from './path.js'

/** What the check needs of the request Envoy forwarded (header names lower-case). */
export interface CheckRequest {
  readonly method: string
  /** The original request target: path and query, as the client sent it. */
  readonly target: string
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The Cookie header parsed (the caller may have parsed it already). */
  readonly cookies?: Record<string, string | undefined>
  /** The target's path, CHECK_PATH_PREFIX stripped and normalised (the caller may have done it already). */
  readonly normalized?: NormalizedPath
  /** The scheme the client used, where the transport reports it (gRPC); HTTP mode reads x-forwarded-proto. */
  readonly scheme?: string
}

/** The original target without CHECK_PATH_PREFIX (what Envoy's `path_prefix` added). */
export function stripCheckPathPrefix(target: string, prefix: string): string {
  return prefix !== '' && target.startsWith(prefix) ? target.slice(prefix.length) || '/' : target
}

/** The path part of AUTHSERVICE_URL_PREFIX, which may be an absolute URL. */
export function prefixPath(urlPrefix: string): string {
  return urlPrefix.startsWith('/') ? urlPrefix : new URL(urlPrefix).pathname
}
