/**
 * The two token-endpoint calls the service makes (RFC 6749 §4.1.3 and §6), with
 * `client_secret_basic` (id and secret form-encoded first, §2.3.1, as Dex decodes them) and a
 * timeout well under Envoy's check timeout. `redirect_uri` is sent byte-for-byte as configured —
 * Kubeflow's Dex registers the relative `/authservice/oidc/callback` and compares exactly
 * (dex-rp-conformance-security.md §1.5, §1.12), which is why we do not let a library rebuild it.
 */
import { AuthServiceError } from '../errors.js'
import type { Fetch } from '../http/fetch.js'

export interface TokenResponse {
  readonly idToken: string
  readonly refreshToken: string | undefined
}

export interface TokenClientOptions {
  readonly tokenEndpoint: () => string | undefined
  /** RFC 7009 revocation endpoint, when discovery advertises one (Dex does not). */
  readonly revocationEndpoint?: () => string | undefined
  readonly clientId: string
  readonly clientSecret: string
  readonly fetch: Fetch
  readonly timeoutMs?: number
}

export interface TokenClient {
  exchangeCode(code: string, redirectUri: string, codeVerifier: string): Promise<TokenResponse>
  refresh(refreshToken: string): Promise<TokenResponse>
  /** Best effort: resolves whether or not the provider accepted it. */
  revoke(refreshToken: string): Promise<void>
}

const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')

export function createTokenClient(options: TokenClientOptions): TokenClient {
  const authorization =
    'Basic ' + Buffer.from(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`).toString('base64')

  async function post(body: Record<string, string>, failure: 'ERR_LOGIN_EXCHANGE_FAILED' | 'ERR_REFRESH_FAILED'): Promise<TokenResponse> {
    const endpoint = options.tokenEndpoint()
    if (!endpoint) throw new AuthServiceError(failure, 'token endpoint unknown')
    let response: Response
    let payload: Record<string, unknown>
    try {
      response = await options.fetch(endpoint, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams(body).toString(),
        signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
      })
      payload = (await response.json()) as Record<string, unknown>
    } catch (cause) {
      throw new AuthServiceError(failure, 'token endpoint unreachable', { cause })
    }
    if (response.status !== 200) {
      // RFC 6749 §5.2: only invalid_grant means the grant itself is dead (log in again).
      const rejected = failure === 'ERR_REFRESH_FAILED' && payload?.error === 'invalid_grant'
      throw new AuthServiceError(rejected ? 'ERR_REFRESH_REJECTED' : failure, `token endpoint answered ${response.status}`)
    }
    if (typeof payload?.id_token !== 'string') throw new AuthServiceError(failure, 'token response has no id_token')
    return {
      idToken: payload.id_token as string,
      refreshToken: typeof payload.refresh_token === 'string' ? payload.refresh_token : undefined,
    }
  }

  return {
    exchangeCode: (code, redirectUri, codeVerifier) =>
      post({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier }, 'ERR_LOGIN_EXCHANGE_FAILED'),
    refresh: (refreshToken) => post({ grant_type: 'refresh_token', refresh_token: refreshToken }, 'ERR_REFRESH_FAILED'),
    async revoke(refreshToken) {
      const endpoint = options.revocationEndpoint?.()
      if (!endpoint) return
      await options
        .fetch(endpoint, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token' }).toString(),
          signal: AbortSignal.timeout(options.timeoutMs ?? 3_000),
        })
        .then((response) => response.arrayBuffer())
        .catch(() => undefined)
    },
  }
}
