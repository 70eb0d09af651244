/**
 * The decision for one check: a pure function of what the check established (is the path a skip
 * path, is it an API call, which credential verified or why none did, is the provider usable) and
 * the authorization policy. No I/O, no clock: everything it needs is in its input (pomerium's
 * evaluate step; default-deny is the last line).
 */
import type { AuthServiceErrorCode } from '../errors.js'
import type { Identity } from '../identity/identity.js'

export type { RequestKind } from './request-kind.js'
import type { RequestKind } from './request-kind.js'

export type CredentialOutcome =
  | { readonly status: 'none' }
  | { readonly status: 'valid'; readonly identity: Identity; readonly via: string }
  | { readonly status: 'rejected'; readonly codes: readonly AuthServiceErrorCode[] }
  | { readonly status: 'unavailable'; readonly what?: 'provider' | 'session-store' }

export interface CheckFacts {
  readonly skip: boolean
  readonly kind: RequestKind
  readonly credential: CredentialOutcome
  /** The primary provider's discovery and keys are loaded. */
  readonly providerReady: boolean
}

export interface Policy {
  /** `['*']` allows everyone. */
  readonly groupsAllowlist: readonly string[]
  /** Lower-case; empty allows any domain. */
  readonly allowedEmailDomains: readonly string[]
}

export type Decision =
  | { readonly outcome: 'skip'; readonly kind: RequestKind; readonly reason: 'SKIP_PATH' }
  | { readonly outcome: 'allow'; readonly kind: RequestKind; readonly reason: 'CREDENTIAL_VALID'; readonly identity: Identity; readonly via: string }
  | { readonly outcome: 'forbidden'; readonly kind: RequestKind; readonly reason: 'GROUP_NOT_ALLOWED' | 'EMAIL_DOMAIN_NOT_ALLOWED'; readonly identity: Identity }
  | { readonly outcome: 'unauthenticated'; readonly kind: RequestKind; readonly reason: 'NO_CREDENTIAL' | 'CREDENTIAL_REJECTED'; readonly codes: readonly AuthServiceErrorCode[] }
  /** A browser navigation without a valid credential: start the OIDC login (never for API calls). */
  | { readonly outcome: 'login'; readonly kind: 'navigation'; readonly reason: 'LOGIN_REQUIRED'; readonly codes: readonly AuthServiceErrorCode[] }
  | { readonly outcome: 'unavailable'; readonly kind: RequestKind; readonly reason: 'PROVIDER_UNAVAILABLE' | 'SESSION_STORE_UNAVAILABLE' }

export type Outcome = Decision['outcome']

function policyDenial(identity: Identity, policy: Policy): 'GROUP_NOT_ALLOWED' | 'EMAIL_DOMAIN_NOT_ALLOWED' | undefined {
  if (!policy.groupsAllowlist.includes('*') && !identity.groups.some((group) => policy.groupsAllowlist.includes(group))) {
    return 'GROUP_NOT_ALLOWED'
  }
  // Only identities that say so (Kubernetes service accounts, extra issuers with `emailDomains: skip`)
  // are governed by groups alone. Any other without an email has no domain to allow (issue 15, finding 6:
  // such identities used to pass the list unchecked).
  if (policy.allowedEmailDomains.length === 0 || identity.emailDomains === 'skip') return undefined
  const email = identity.email ?? ''
  const at = email.lastIndexOf('@')
  // An "email" without a local part and a domain has no domain to allow either.
  return at < 1 || !policy.allowedEmailDomains.includes(email.slice(at + 1)) ? 'EMAIL_DOMAIN_NOT_ALLOWED' : undefined
}

export function decide(facts: CheckFacts, policy: Policy): Decision {
  const { kind, credential } = facts
  if (facts.skip) return { outcome: 'skip', kind, reason: 'SKIP_PATH' }
  if (credential.status === 'valid') {
    const denial = policyDenial(credential.identity, policy)
    if (denial) return { outcome: 'forbidden', kind, reason: denial, identity: credential.identity }
    return { outcome: 'allow', kind, reason: 'CREDENTIAL_VALID', identity: credential.identity, via: credential.via }
  }
  if (credential.status === 'unavailable' && credential.what === 'session-store') {
    return { outcome: 'unavailable', kind, reason: 'SESSION_STORE_UNAVAILABLE' }
  }
  if (credential.status === 'unavailable' || !facts.providerReady) {
    return { outcome: 'unavailable', kind, reason: 'PROVIDER_UNAVAILABLE' }
  }
  const codes = credential.status === 'rejected' ? credential.codes : []
  // API calls and XHR never start a login (a redirect to an HTML form breaks them, kubeflow/manifests#2904).
  if (kind === 'navigation') return { outcome: 'login', kind, reason: 'LOGIN_REQUIRED', codes }
  if (credential.status === 'rejected') return { outcome: 'unauthenticated', kind, reason: 'CREDENTIAL_REJECTED', codes }
  return { outcome: 'unauthenticated', kind, reason: 'NO_CREDENTIAL', codes: [] }
}
