/**
 * The provider URLs a browser is sent to, built by openid-client: the authorization request (OIDC
 * Core §3.1.2.1: code flow, PKCE S256, state and nonce) by `buildAuthorizationUrl`, and
 * RP-initiated logout (RP-Initiated Logout 1.0 §2) by `buildEndSessionUrl`.
 *
 * The endpoint is used exactly as given: OIDC_AUTH_URL may be the relative `/dex/auth` (the browser
 * resolves it on the gateway it is on), and a configured query stays as written, never re-encoded.
 * openid-client takes absolute endpoints only and re-serialises their query, so it builds against a
 * stand-in and its query is appended to the endpoint (login-flow.test.ts 'redirects to the
 * authorization endpoint…' with `/dex/auth`; front-channel.test.ts 'the endpoint is kept exactly…').
 */
import * as client from 'openid-client'

/** Never sent: openid-client's URL is only read for its query. */
const STAND_IN = 'https://endpoint.invalid/'

export interface AuthorizationRequest {
  readonly clientId: string
  /** Sent byte for byte (Dex compares exactly); may be relative. */
  readonly redirectUri: string
  readonly scope: string
  readonly state: string
  readonly nonce: string
  /** PKCE (RFC 7636): only its S256 challenge leaves the service. */
  readonly codeVerifier: string
}

export interface EndSessionRequest {
  readonly clientId: string
  readonly idTokenHint: string
  /** Absolute and registered with the provider, or left out. */
  readonly postLogoutRedirectUri?: string
}

function standIn(clientId: string): client.Configuration {
  return new client.Configuration({ issuer: STAND_IN, authorization_endpoint: STAND_IN, end_session_endpoint: STAND_IN }, clientId)
}

/** `endpoint` as given, then the query openid-client built. */
function onto(endpoint: string, built: URL): string {
  return `${endpoint}${endpoint.includes('?') ? '&' : '?'}${built.search.slice(1)}`
}

export async function authorizationUrl(endpoint: string, request: AuthorizationRequest): Promise<string> {
  // response_type and client_id given, though openid-client would add them (last): the order stays
  // as browsers and tests have seen it (login-flow.test.ts 'redirects to the authorization endpoint…').
  const built = client.buildAuthorizationUrl(standIn(request.clientId), {
    response_type: 'code',
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    scope: request.scope,
    state: request.state,
    nonce: request.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(request.codeVerifier),
    // Explicit: Dex treats a missing method as `plain` (dex-rp-conformance-security.md §1.5).
    code_challenge_method: 'S256',
  })
  return onto(endpoint, built)
}

export function endSessionUrl(endpoint: string, request: EndSessionRequest): string {
  const parameters: Record<string, string> = { id_token_hint: request.idTokenHint, client_id: request.clientId }
  if (request.postLogoutRedirectUri !== undefined) parameters.post_logout_redirect_uri = request.postLogoutRedirectUri
  return onto(endpoint, client.buildEndSessionUrl(standIn(request.clientId), parameters))
}
