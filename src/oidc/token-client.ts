/**
 * The token-endpoint calls the service makes — the code exchange (RFC 6749 §4.1.3), refresh (§6)
 * and revocation (RFC 7009) — by openid-client (`authorizationCodeGrant` with its state, nonce and
 * PKCE checks, `refreshTokenGrant`, `tokenRevocation`) over a Configuration built from the
 * discovered metadata, with `client_secret_basic` (id and secret form-encoded first, §2.3.1, as Dex
 * decodes them) and a timeout well under Envoy's check timeout. Failures are AuthServiceErrors with
 * stable codes; callers see neither openid-client's types nor its errors.
 *
 * openid-client checks the ID token's claims but not its signature (it relies on TLS, and Kubeflow's
 * in-cluster Dex is plain http): the caller verifies every ID token with oidc/token-verifier.ts.
 *
 * `redirect_uri` goes on the wire byte for byte as configured — Kubeflow's Dex registers the
 * relative `/authservice/oidc/callback` and compares exactly (dex-rp-conformance-security.md §1.5,
 * §1.12) — while openid-client, which wants an absolute callback URL, sees a stand-in
 * (openid-fetch.ts puts the configured value back).
 */
import * as client from 'openid-client'
import { AuthServiceError } from '../errors.js'
import type { ProviderMetadata } from './discovery.js'
import type { Fetch } from './fetch.js'
import { answeredStatus, openidFetch, requestFailure } from './openid-fetch.js'

export interface TokenResponse {
  readonly idToken: string
  readonly refreshToken: string | undefined
}

/** A code exchange: the callback as received, and what this login sent. */
export interface CodeExchange {
  /** The callback's query string (`code`, `state`, …) as received. */
  readonly callbackQuery: string
  /** `redirect_uri` exactly as sent in the authorization request (may be relative). */
  readonly redirectUri: string
  /** The callback's `state` must equal it. */
  readonly state: string
  /** The ID token's `nonce` must equal it. */
  readonly nonce: string
  /** PKCE (RFC 7636): sent with the code. */
  readonly codeVerifier: string
}

export interface TokenClientOptions {
  /** The provider's discovered metadata; undefined before discovery succeeded. */
  readonly metadata: () => ProviderMetadata | undefined
  readonly clientId: string
  readonly clientSecret: string
  readonly fetch: Fetch
  /** Per request, in ms (default 3 s). */
  readonly timeoutMs?: number
  /** Tolerated clock difference for the ID token's `exp` and `nbf` (JWT_CLOCK_SKEW_SECONDS; default 30). */
  readonly clockSkewSeconds?: number
}

export interface TokenClient {
  /** @throws AuthServiceError ERR_LOGIN_EXCHANGE_FAILED */
  exchangeCode(exchange: CodeExchange): Promise<TokenResponse>
  /** @throws AuthServiceError ERR_REFRESH_REJECTED (the grant is dead: log in again), ERR_REFRESH_FAILED */
  refresh(refreshToken: string): Promise<TokenResponse>
  /** Best effort: resolves whether or not the provider accepted it. */
  revoke(refreshToken: string): Promise<void>
}

type Failure = 'ERR_LOGIN_EXCHANGE_FAILED' | 'ERR_REFRESH_FAILED'

/** The absolute callback URL openid-client requires; never sent (the configured redirect_uri is). */
const CALLBACK_STAND_IN = 'https://callback.invalid/'

/** openid-client's failure as our error: no answer, an error answer (RFC 6749 §5.2), or a refused one. */
function failed(error: unknown, failure: Failure): AuthServiceError {
  const unanswered = requestFailure(error)
  if (unanswered) return new AuthServiceError(failure, 'token endpoint unreachable', { cause: unanswered.cause })
  const status = answeredStatus(error)
  if (status === undefined) return new AuthServiceError(failure, 'token response refused', { cause: error })
  // RFC 6749 §5.2: only invalid_grant means the grant itself is dead (log in again). A used or
  // expired code is invalid_grant too, but a login just fails.
  const rejected = failure === 'ERR_REFRESH_FAILED' && error instanceof client.ResponseBodyError && error.error === 'invalid_grant'
  return new AuthServiceError(rejected ? 'ERR_REFRESH_REJECTED' : failure, `token endpoint answered ${status}`, { cause: error })
}

function tokenResponse(result: client.TokenEndpointResponse, failure: Failure): TokenResponse {
  if (typeof result.id_token !== 'string') throw new AuthServiceError(failure, 'token response has no id_token')
  return { idToken: result.id_token, refreshToken: result.refresh_token }
}

export function createTokenClient(options: TokenClientOptions): TokenClient {
  /** A Configuration per call (a few small objects): the metadata is whatever discovery has now. */
  function configuration(metadata: ProviderMetadata, redirectUri?: string): client.Configuration {
    const config = new client.Configuration(
      { ...metadata },
      options.clientId,
      { [client.clockTolerance]: options.clockSkewSeconds ?? 30 },
      client.ClientSecretBasic(options.clientSecret),
    )
    config[client.customFetch] = openidFetch(options.fetch, { timeoutMs: options.timeoutMs, redirectUri })
    // Plain http only for an http issuer (Kubeflow's in-cluster Dex), accepted with a warning.
    if (new URL(metadata.issuer).protocol === 'http:') client.allowInsecureRequests(config)
    return config
  }

  function withTokenEndpoint(failure: Failure): ProviderMetadata {
    const metadata = options.metadata()
    if (!metadata?.token_endpoint) throw new AuthServiceError(failure, 'token endpoint unknown')
    return metadata
  }

  return {
    async exchangeCode(exchange) {
      const config = configuration(withTokenEndpoint('ERR_LOGIN_EXCHANGE_FAILED'), exchange.redirectUri)
      const callback = new URL(CALLBACK_STAND_IN)
      callback.search = exchange.callbackQuery
      let result
      try {
        result = await client.authorizationCodeGrant(config, callback, {
          expectedState: exchange.state,
          expectedNonce: exchange.nonce,
          pkceCodeVerifier: exchange.codeVerifier,
        })
      } catch (error) {
        throw failed(error, 'ERR_LOGIN_EXCHANGE_FAILED')
      }
      return tokenResponse(result, 'ERR_LOGIN_EXCHANGE_FAILED')
    },
    async refresh(refreshToken) {
      const config = configuration(withTokenEndpoint('ERR_REFRESH_FAILED'))
      let result
      try {
        result = await client.refreshTokenGrant(config, refreshToken)
      } catch (error) {
        throw failed(error, 'ERR_REFRESH_FAILED')
      }
      return tokenResponse(result, 'ERR_REFRESH_FAILED')
    },
    async revoke(refreshToken) {
      const metadata = options.metadata()
      // Dex advertises no revocation endpoint: nothing to do.
      if (!metadata?.revocation_endpoint) return
      await client.tokenRevocation(configuration(metadata), refreshToken, { token_type_hint: 'refresh_token' }).catch(() => undefined)
    },
  }
}
