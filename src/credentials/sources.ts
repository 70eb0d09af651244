/**
 * The credential sources, in the order they are tried; the first that establishes an identity wins.
 *
 *   0. kubernetes       `Authorization: Bearer <service-account token>` (KUBERNETES_TOKENS; kubectl create token)
 *   1. authorization    `Authorization: Bearer <JWT>` (SDKs, pipelines, curl)
 *   2. id-token-header  ID_TOKEN_HEADER, when it is another header
 *   3. id-token-cookie  ID_TOKEN_COOKIE, when set
 *   4. session-header   AUTH_HEADER carrying a session ticket (oidc-authservice clients, the KFP SDK)
 *   5. session-cookie   the browser's session cookie
 *
 * Bearer JWTs come first so that an application's own cookie never hides the token a client sent
 * on purpose, and a JWT in a header never hides a valid session cookie: each source that finds its
 * credential is tried in turn. Which source owns a bearer value is decided in one place (bearer.ts):
 * a service-account token is the Kubernetes source's alone, so it comes first at no cost to others.
 * A new source is one file and one line here.
 */
import type { Config } from '../config/types.js'
import type { TokenVerifier } from '../oidc/token-verifier.js'
import type { SessionAuthenticator } from '../session/session-auth.js'
import { authorizationBearerSource } from './authorization-bearer.js'
import { idTokenCookieSource } from './id-token-cookie.js'
import { idTokenHeaderSource } from './id-token-header.js'
import { kubernetesTokenSource, type KubernetesTokenDependencies } from './kubernetes-token.js'
import type { CredentialSource } from './ports.js'
import { sessionCookieSource } from './session-cookie.js'
import { sessionHeaderSource } from './session-header.js'

export type SourcesConfig = Pick<
  Config,
  | 'idTokenHeader' | 'idTokenCookie' | 'authHeader' | 'sessionCookieName'
  | 'userIdClaim' | 'userIdPrefix' | 'userIdTransformers' | 'groupsClaim' | 'requireEmailVerified' | 'extraIssuers'
>

export interface SourcesDependencies {
  readonly verifier: TokenVerifier
  /** Session tickets → sessions; absent = bearer JWTs only. */
  readonly sessions?: SessionAuthenticator
  readonly onUnexpectedError?: (error: unknown) => void
  /** KUBERNETES_TOKENS: the service-account token source; absent = off. */
  readonly kubernetes?: Omit<KubernetesTokenDependencies, 'onUnexpectedError'>
}

export function createCredentialSources(config: SourcesConfig, deps: SourcesDependencies): CredentialSource[] {
  const jwt = { verifier: deps.verifier, identityRules: config, onUnexpectedError: deps.onUnexpectedError }
  // Without sessions no source owns a session ticket, so every bearer value is tried as a JWT.
  const sessionHeader = deps.sessions ? config.authHeader : ''
  const kubernetes = deps.kubernetes ? [kubernetesTokenSource({ ...deps.kubernetes, onUnexpectedError: deps.onUnexpectedError })] : []
  const sources = [...kubernetes, authorizationBearerSource(sessionHeader, jwt, new Set(deps.kubernetes?.issuers))]
  if (config.idTokenHeader !== 'authorization') sources.push(idTokenHeaderSource(config.idTokenHeader, sessionHeader, jwt))
  if (config.idTokenCookie !== undefined) sources.push(idTokenCookieSource(config.idTokenCookie, jwt))
  if (deps.sessions) {
    const session = { sessions: deps.sessions, identityRules: config }
    sources.push(sessionHeaderSource(config.authHeader, session), sessionCookieSource(config.sessionCookieName, config.authHeader, session))
  }
  return sources
}
