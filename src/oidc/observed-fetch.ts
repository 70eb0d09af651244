/**
 * Every call to an identity provider, counted in one place: the Fetch seam (fetch.ts) wrapped once
 * by the composition root, so discovery, the key set, the token client and the TokenReview are
 * counted alike without each knowing about metrics.
 */
import type { Fetch } from './fetch.js'

/** Which provider endpoint a call went to. */
export type ProviderEndpoint = 'discovery' | 'jwks' | 'token' | 'revocation' | 'tokenreview'

/**
 * How a call ended: `ok` (an answer below 500 — a 400 `invalid_grant` is the provider working),
 * `error` (a 5xx answer), `unreachable` (no answer: refused, reset, timed out).
 */
export type ProviderCallResult = 'ok' | 'error' | 'unreachable'

export type ProviderCallObserver = (endpoint: ProviderEndpoint, result: ProviderCallResult) => void

const DISCOVERY_PATH = '/.well-known/openid-configuration'
/** The Kubernetes TokenReview API (token-review.ts). */
const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/'

/**
 * The endpoint from what the service sends, which is fixed by our own callers: discovery and the
 * key set are the only GETs (OpenID Connect Discovery 1.0 §4 names the discovery path); a form with
 * `grant_type` goes to the token endpoint (RFC 6749 §4.1.3, §6), a form without it carries the
 * `token` to revoke (RFC 7009 §2.1); TokenReview posts JSON to the API server.
 */
export function providerEndpoint(url: string, init: Parameters<Fetch>[1] = {}): ProviderEndpoint {
  const path = new URL(url).pathname
  if ((init.method ?? 'GET') === 'GET') return path.endsWith(DISCOVERY_PATH) ? 'discovery' : 'jwks'
  if (path.includes(TOKEN_REVIEW_PATH)) return 'tokenreview'
  return new URLSearchParams(init.body).has('grant_type') ? 'token' : 'revocation'
}

/** `fetch`, with each call's endpoint and result told to `observe` (which must not throw). */
export function observedFetch(fetch: Fetch, observe: ProviderCallObserver): Fetch {
  return async (url, init) => {
    const endpoint = providerEndpoint(url, init)
    let response: Response
    try {
      response = await fetch(url, init)
    } catch (error) {
      observe(endpoint, 'unreachable')
      throw error
    }
    observe(endpoint, response.status >= 500 ? 'error' : 'ok')
    return response
  }
}
