/**
 * OpenID Provider discovery for one issuer, retried with backoff until it succeeds
 * (oidc-authservice retried every 10 s forever; Kubeflow starts the service before Dex is up).
 * The discovered `issuer` must equal the configured one exactly (OIDC Discovery §4.3).
 */
import { ProviderUnavailableError } from '../errors.js'
import type { Fetch } from '../http/fetch.js'

export interface ProviderMetadata {
  readonly issuer: string
  readonly authorization_endpoint?: string
  readonly token_endpoint?: string
  readonly jwks_uri: string
  readonly userinfo_endpoint?: string
  readonly end_session_endpoint?: string
  readonly revocation_endpoint?: string
}

export interface DiscoveryOptions {
  issuer: string
  fetch: Fetch
  headers?: () => Record<string, string>
  timeoutMs?: number
}

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
}

/** One discovery attempt. */
export async function discover(options: DiscoveryOptions): Promise<ProviderMetadata> {
  let body: Partial<ProviderMetadata>
  try {
    const response = await options.fetch(discoveryUrl(options.issuer), {
      headers: { accept: 'application/json', ...options.headers?.() },
      signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
    })
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`)
    body = (await response.json()) as Partial<ProviderMetadata>
  } catch (cause) {
    throw new ProviderUnavailableError('identity provider discovery failed', { cause })
  }
  if (typeof body !== 'object' || body === null) {
    throw new ProviderUnavailableError('discovery document is not a JSON object')
  }
  if (body.issuer !== options.issuer) {
    throw new ProviderUnavailableError('discovered issuer does not equal the configured issuer')
  }
  if (typeof body.jwks_uri !== 'string') {
    throw new ProviderUnavailableError('discovery document has no jwks_uri')
  }
  return body as ProviderMetadata
}
