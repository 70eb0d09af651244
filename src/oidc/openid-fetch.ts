/**
 * openid-client's requests through our Fetch seam (fetch.ts: CA_BUNDLE, the cluster CA, test
 * stubs), with our timeout, and put on the wire as the service sends them; plus what its errors
 * say about the provider's answer, for our error codes.
 */
import * as client from 'openid-client'
import type { Fetch } from './fetch.js'

export interface OpenidFetchOptions {
  /** Extra request headers (the pod's service-account token for the Kubernetes issuer). */
  readonly headers?: () => Record<string, string>
  /** Per request, in ms (default 3 s, well under Envoy's check timeout). */
  readonly timeoutMs?: number
  /** The `redirect_uri` this login sent, put back into the token request exactly (see below). */
  readonly redirectUri?: string
}

/**
 * The form fields in the order RFC 6749 (§4.1.3, §6) and RFC 7009 (§2.1) list them — how the
 * service has always sent them; test/unit/oidc/token-client.test.ts pins the exact bodies ('the
 * code exchange posts exactly the RFC 6749 §4.1.3 fields…', the refresh and revocation tests).
 */
const FORM_ORDER: readonly string[] = ['grant_type', 'code', 'redirect_uri', 'code_verifier', 'refresh_token', 'token', 'token_type_hint']

const rank = (name: string) => {
  const at = FORM_ORDER.indexOf(name)
  return at === -1 ? FORM_ORDER.length : at
}

/** Our Fetch threw: the request got no answer (refused, reset, timed out). `cause` is what it threw. */
class RequestFailed extends Error {
  constructor(cause: unknown) {
    super('request to the identity provider failed', { cause })
  }
}

/**
 * openid-client's `customFetch` over `fetch`. What it changes on the way out, each for a test that
 * openid-client alone cannot pass:
 * - `redirect_uri` is set back to `options.redirectUri`: openid-client sends the absolute callback
 *   URL without its query, but Kubeflow registers the relative `/authservice/oidc/callback` and Dex
 *   compares byte for byte (token-client.test.ts '…redirect_uri byte for byte even when relative',
 *   'an absolute redirect_uri with its own query is sent unchanged');
 * - forms go out in RFC order as `application/x-www-form-urlencoded`, a media type without
 *   parameters (openid-client adds `;charset=UTF-8`; same test);
 * - no `user-agent` (openid-client names itself and its version; discovery.test.ts 'sends accept:
 *   application/json, the extra headers and a timeout signal');
 * - the timeout is ours, in ms (openid-client's is in seconds, and `AbortSignal.timeout` refuses
 *   the fractional ms that 1.001 s gives): token-client.test.ts 'a token endpoint that hangs is
 *   abandoned after the timeout', discovery.test.ts '…within timeoutMs…'.
 * A request that gets no answer rejects with RequestFailed (see requestFailure).
 */
export function openidFetch(fetch: Fetch, options: OpenidFetchOptions = {}): client.CustomFetch {
  const timeoutMs = options.timeoutMs ?? 3_000
  return async (url, init) => {
    const { 'user-agent': _userAgent, ...headers } = init.headers
    let body: string | undefined
    if (init.body instanceof URLSearchParams) {
      const form = new URLSearchParams([...init.body].sort(([a], [b]) => rank(a) - rank(b)))
      if (options.redirectUri !== undefined && form.has('redirect_uri')) form.set('redirect_uri', options.redirectUri)
      body = form.toString()
      headers['content-type'] = 'application/x-www-form-urlencoded'
    } else if (init.body !== undefined && init.body !== null) {
      // openid-client sends forms (token, revocation) or nothing (discovery) for the calls we make.
      throw new TypeError('only form bodies are sent to the identity provider')
    }
    const timeout = AbortSignal.timeout(timeoutMs)
    try {
      return await fetch(url, {
        method: init.method,
        headers: { ...headers, ...options.headers?.() },
        body,
        redirect: 'manual',
        signal: init.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
      })
    } catch (cause) {
      throw new RequestFailed(cause)
    }
  }
}

/**
 * When `error` (from openid-client) is about a request that got no answer: what our Fetch threw
 * (openid-client wraps it as "something went wrong").
 */
export function requestFailure(error: unknown): { readonly cause: unknown } | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof RequestFailed) return { cause: current.cause }
  }
  return undefined
}

/** The HTTP status of the provider's answer, when `error` (from openid-client) refuses an error answer (not 200). */
export function answeredStatus(error: unknown): number | undefined {
  if (error instanceof client.ResponseBodyError || error instanceof client.WWWAuthenticateChallengeError) return error.status
  // Statuses without an OAuth error body: openid-client keeps the Response as the cause.
  if (error instanceof client.ClientError && error.cause instanceof Response && error.cause.status !== 200) return error.cause.status
  return undefined
}
