/** Tells an API call (answered 401) from a browser navigation (redirected to login) for an unauthenticated request. */
import type { NormalizedPath } from './path.js'

export type RequestKind = 'api' | 'navigation'

/** What the classifier reads from a checked request; header names are lower-case. */
export interface ClassifiedRequest {
  readonly method: string
  readonly path: NormalizedPath
  readonly headers: Readonly<Record<string, string | undefined>>
}

const SEMICOLON = 0x3b
const SPACE = 0x20
const TAB = 0x09

/** True when `value[from, to)` equals `lower` ignoring ASCII case; `lower` must be lower-case. */
function equalsIgnoreAsciiCase(value: string, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false
  for (let i = 0; i < lower.length; i++) {
    const code = value.charCodeAt(from + i)
    const folded = code >= 0x41 && code <= 0x5a ? code + 0x20 : code
    if (folded !== lower.charCodeAt(i)) return false
  }
  return true
}

function isWhitespace(code: number): boolean {
  return code === SPACE || code === TAB
}

/**
 * Whether an Accept value (RFC 9110 §12.5.1) marks a programmatic client: it names neither
 * `text/html` nor only the any-type wildcard (which curl and python-requests send by default, so
 * it says nothing). Scans in place: media types compare case-insensitively, parameters
 * (`;q=0.8`) are skipped, and an empty value names nothing, so it counts as an API signal.
 */
function acceptSignalsApi(accept: string): boolean {
  let types = 0
  let wildcards = 0
  for (let start = 0, end = 0; start <= accept.length; start = end + 1) {
    end = accept.indexOf(',', start)
    if (end === -1) end = accept.length
    let from = start
    while (from < end && isWhitespace(accept.charCodeAt(from))) from++
    let to = from
    while (to < end && accept.charCodeAt(to) !== SEMICOLON) to++
    while (to > from && isWhitespace(accept.charCodeAt(to - 1))) to--
    if (to === from) continue // an empty list element (RFC 9110 §5.6.1 allows them)
    if (equalsIgnoreAsciiCase(accept, from, to, 'text/html')) return false
    types++
    if (equalsIgnoreAsciiCase(accept, from, to, '*/*')) wildcards++
  }
  return types === 0 || wildcards < types
}

/**
 * Only GET and HEAD count as navigations: redirecting anything else to login would drop its body
 * (and a 302 turns POST into GET), so even a browser form POST is answered as an API call.
 */
function isNavigationMethod(method: string): boolean {
  return (
    equalsIgnoreAsciiCase(method, 0, method.length, 'get') || equalsIgnoreAsciiCase(method, 0, method.length, 'head')
  )
}

/**
 * True for `Bearer <something>` (scheme case-insensitive, RFC 7235 §2.1): a browser never sends one on
 * a navigation, so whoever sends one is a program, however it is refused. The dashboard's empty
 * `Bearer` on its XHRs is not one (it falls back to the session cookie, and to the other signals).
 */
function carriesBearerCredential(authorization: string | undefined): boolean {
  if (authorization === undefined || authorization.length < 8 || !equalsIgnoreAsciiCase(authorization, 0, 7, 'bearer ')) return false
  for (let i = 7; i < authorization.length; i++) if (!isWhitespace(authorization.charCodeAt(i))) return true
  return false
}

/**
 * API_ROUTES as one regular expression: each entry matches anywhere in the normalised path, as
 * oauth2-proxy's `api_routes` do (`/apis/` matches `/pipeline/apis/v2beta1/runs`). Undefined when
 * there is none.
 */
function apiRoutesPattern(apiRoutes: readonly string[]): RegExp | undefined {
  return apiRoutes.length === 0 ? undefined : new RegExp(apiRoutes.map((source) => `(?:${source})`).join('|'))
}

/**
 * What made a request an API call: the first signal found, cheapest first. Undefined when there is
 * none, which makes it a navigation. `authservice explain` shows it; the classifier is built on it,
 * so the two cannot disagree.
 */
export type KindSignal = 'sec-fetch-mode' | 'x-requested-with' | 'bearer' | 'method' | 'accept' | 'api-route'

export function createKindSignal(apiRoutes: readonly string[]): (request: ClassifiedRequest) => KindSignal | undefined {
  const apiRoute = apiRoutesPattern(apiRoutes)
  return ({ method, path, headers }) => {
    const fetchMode = headers['sec-fetch-mode']
    if (fetchMode !== undefined && !equalsIgnoreAsciiCase(fetchMode, 0, fetchMode.length, 'navigate')) return 'sec-fetch-mode'
    if (headers['x-requested-with'] !== undefined) return 'x-requested-with'
    if (carriesBearerCredential(headers.authorization)) return 'bearer'
    if (!isNavigationMethod(method)) return 'method'
    const accept = headers['accept']
    if (accept !== undefined && acceptSignalsApi(accept)) return 'accept'
    // An ambiguous path (read differently by the upstream) matches no route, as with skip paths.
    return apiRoute !== undefined && !path.ambiguous && apiRoute.test(path.path) ? 'api-route' : undefined
  }
}

/**
 * Builds the classifier: any signal makes the request an API call. With none it is a navigation:
 * Kubeflow's stock Envoy filter forwards only authorization, cookie and x-auth-token, so a bare GET
 * is most likely a browser.
 */
export function createRequestClassifier(apiRoutes: readonly string[]): (request: ClassifiedRequest) => RequestKind {
  const signal = createKindSignal(apiRoutes)
  return (request) => (signal(request) === undefined ? 'navigation' : 'api')
}
