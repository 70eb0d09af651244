/**
 * `Authorization: Bearer <Kubernetes service-account token>` (KUBERNETES_TOKENS): pipelines and
 * scripts calling Kubeflow's APIs with `kubectl create token` (Kubeflow ≥ 1.10 m2m), or with a
 * legacy secret-based token (Kubeflow 1.7/1.8, oidc-authservice's authenticator_kubernetes.go).
 *
 * Only tokens whose unverified `iss` is the cluster's come here (bearer.ts). The signature,
 * issuer, audience and lifetime are checked offline first (the API server's own keys, never a
 * discovery document's `jwks_uri`), so junk never costs an API call; then a TokenReview confirms
 * the token (a deleted service account or pod is refused). The identity is the review's username
 * (`system:serviceaccount:<ns>:<name>`) and groups: no email, and said to be governed by
 * GROUPS_ALLOWLIST alone (`emailDomains: 'skip'`: ALLOWED_EMAIL_DOMAINS would refuse every service
 * account, having no email to look at), and no ID token (never forwarded as Dex's).
 */
import { TokenRejectedError } from '../errors.js'
import { headerSafeIdentity } from '../identity/header-values.js'
import type { Identity } from '../identity/identity.js'
import type { TokenReviewer } from '../oidc/token-review.js'
import { verifyToken, type TokenVerifier } from '../oidc/token-verifier.js'
import { bearerCredential, ownedByKubernetes } from './bearer.js'
import { verificationFailure } from './jwt.js'
import type { CredentialSource, Established } from './ports.js'

export interface KubernetesTokenDependencies {
  /** Signature, issuer, audience and expiry: the cluster's key set, no verified-token cache. */
  readonly verifier: TokenVerifier
  /** The service-account issuers (bound, and `kubernetes/serviceaccount` with legacy tokens on). */
  readonly issuers: ReadonlySet<string>
  /** KUBERNETES_TOKEN_AUDIENCES, sent with the review of a bound token. */
  readonly audiences: readonly string[]
  readonly maxLifetimeSeconds: number
  /** The TokenReview; undefined = KUBERNETES_TOKENREVIEW=false (the signature alone decides). */
  readonly review: TokenReviewer | undefined
  /** The cluster's keys have been loaded once: before that an unknown key means "unavailable", not a refusal. */
  readonly keysLoaded: () => boolean
  readonly onUnexpectedError?: (error: unknown) => void
}

const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):[^:]+$/

const refused = (code: 'ERR_TOKEN_CLAIM_INVALID' | 'ERR_TOKEN_REVIEW_REFUSED', message: string, claim?: string) =>
  TokenRejectedError.refusal(code, message, claim === undefined ? undefined : { claim })

/** What Kubernetes gives every service account when no review says otherwise. */
const serviceAccountGroups = (namespace: string) => ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated']

/** A service account's identity, as it may be sent in headers: the groups policy only (issue 15, finding 6), no email, no ID token. */
const serviceAccount = (userId: string, groups: readonly string[]): Identity =>
  headerSafeIdentity<Identity>({ userId, groups, email: undefined, idToken: undefined, emailDomains: 'skip' })

export function kubernetesTokenSource(deps: KubernetesTokenDependencies): CredentialSource {
  async function identityOf(token: string): Promise<Identity | 'unavailable'> {
    const verified = await verifyToken(deps.verifier, token)
    const { sub, exp, iat } = verified.claims
    // Bound tokens: the verifier has required exp and iat; legacy ones have neither.
    if (typeof exp === 'number' && typeof iat === 'number' && exp - iat > deps.maxLifetimeSeconds) {
      throw refused('ERR_TOKEN_CLAIM_INVALID', 'token lives longer than KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS', 'exp')
    }
    const account = typeof sub === 'string' ? SERVICE_ACCOUNT.exec(sub) : null
    if (!account) throw refused('ERR_TOKEN_CLAIM_INVALID', 'token names no service account', 'sub')
    const subject = account[0]
    if (!deps.review) return serviceAccount(subject, serviceAccountGroups(account[1] as string))
    const outcome = await deps.review(token, typeof exp === 'number' ? deps.audiences : undefined)
    if (outcome.status === 'unavailable') return 'unavailable'
    if (outcome.status === 'refused') throw refused('ERR_TOKEN_REVIEW_REFUSED', 'the API server no longer accepts this token')
    if (outcome.username !== subject) throw refused('ERR_TOKEN_REVIEW_REFUSED', 'the API server names another user for this token')
    // The API server's username and groups become headers too (kubernetes.io: TokenReview status.user).
    return serviceAccount(outcome.username, outcome.groups)
  }

  return {
    name: 'kubernetes',
    carried: ({ headers }) => {
      const credential = bearerCredential(headers.authorization)
      return credential !== undefined && ownedByKubernetes(credential, deps.issuers) ? credential : undefined
    },
    // A review changes nothing but its cache, so a dry run reviews the same way.
    async establish(token): Promise<Established> {
      try {
        const identity = await identityOf(token)
        return identity === 'unavailable' ? { status: 'unavailable', what: 'provider' } : { status: 'valid', identity }
      } catch (error) {
        const unknownKey = error instanceof TokenRejectedError && error.code === 'ERR_TOKEN_UNKNOWN_KEY'
        if (unknownKey && !deps.keysLoaded()) return { status: 'unavailable', what: 'provider' }
        return verificationFailure(error, deps.onUnexpectedError)
      }
    },
  }
}
