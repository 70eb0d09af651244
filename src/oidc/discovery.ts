/**
 * One OpenID Provider discovery attempt, by openid-client's `discovery()` through our Fetch seam
 * (issuer.ts retries it with backoff; Kubeflow starts the service before Dex is up). The
 * discovered `issuer` must equal the configured one exactly (OIDC Discovery §4.3).
 */
import * as client from 'openid-client'
import { ProviderUnavailableError } from '../errors.js'
import type { Fetch } from './fetch.js'
import { answeredStatus, openidFetch, requestFailure } from './openid-fetch.js'

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

/**
 * openid-client's discovery returns a Configuration, which needs a client id; only its server
 * metadata is kept (token-client.ts builds the client's own Configuration from it).
 */
const DISCOVERY_ONLY = 'authservice-discovery'

const ISSUER_MISMATCH = 'discovered issuer does not equal the configured issuer'

/** openid-client's failure as ours, saying what an operator needs (check-config prints it). */
function unavailable(error: unknown): ProviderUnavailableError {
  // The usual misconfiguration (a trailing slash): the same words whichever check found it.
  if (error instanceof client.ClientError && error.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
    return new ProviderUnavailableError(ISSUER_MISMATCH)
  }
  const status = answeredStatus(error)
  if (status !== undefined) return new ProviderUnavailableError(`identity provider discovery failed: answered ${status}`)
  return new ProviderUnavailableError('identity provider discovery failed', { cause: requestFailure(error)?.cause ?? error })
}

/** Where discovery looks (for messages). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
}

/** One discovery attempt; rejects with ProviderUnavailableError. */
export async function discover(options: DiscoveryOptions): Promise<ProviderMetadata> {
  let metadata: Partial<ProviderMetadata> & { readonly issuer: string }
  try {
    const issuer = new URL(options.issuer)
    const configuration = await client.discovery(issuer, DISCOVERY_ONLY, undefined, undefined, {
      [client.customFetch]: openidFetch(options.fetch, { headers: options.headers, timeoutMs: options.timeoutMs }),
      // Plain http only for an http issuer (Kubeflow's in-cluster Dex), which the configuration
      // accepted with a warning.
      execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
    })
    // A plain copy: the document as the provider sent it, without openid-client's helper methods.
    metadata = { ...configuration.serverMetadata() }
  } catch (error) {
    throw unavailable(error)
  }
  // openid-client compares the issuers as parsed URLs, so `http://DEX…` passes for `http://dex…`;
  // tokens carry the issuer as a string and the verifier compares strings, so this must too
  // (discovery.test.ts 'the discovered issuer differs only where URL parsing normalises it').
  if (metadata.issuer !== options.issuer) throw new ProviderUnavailableError(ISSUER_MISMATCH)
  // openid-client does not require jwks_uri (an OAuth server may have none); we verify with its keys
  // (discovery.test.ts 'the document has no jwks_uri', 'jwks_uri is not a string').
  if (typeof metadata.jwks_uri !== 'string') {
    throw new ProviderUnavailableError('discovery document has no jwks_uri')
  }
  return metadata as ProviderMetadata
}
