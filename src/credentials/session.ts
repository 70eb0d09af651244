/**
 * What both session sources share: a ticket → the live session (session/session-auth.ts, which
 * refreshes its ID token when due) → the identity from the claims the session keeps. An unknown,
 * expired or tampered ticket is a refused credential, like a bad token.
 */
import { AuthServiceError } from '../errors.js'
import { identityFromClaims, type IdentityRules } from '../identity/identity.js'
import type { SessionAuthenticator } from '../session/session-auth.js'
import type { CarryingRequest, CredentialSource, Established, SourceName } from './ports.js'

export interface SessionSourceDependencies {
  readonly sessions: SessionAuthenticator
  readonly identityRules: IdentityRules
}

export function createSessionSource(
  name: SourceName,
  carried: (request: CarryingRequest) => string | undefined,
  deps: SessionSourceDependencies,
  /** Whether a renewed ticket goes back to the client (only a cookie can be set in the answer). */
  returnsRenewed: boolean,
): CredentialSource {
  return {
    name,
    carried,
    async establish(ticket, options): Promise<Established> {
      const outcome = await deps.sessions(ticket, options)
      switch (outcome.status) {
        case 'unavailable':
          return { status: 'unavailable', what: 'session-store' }
        case 'ended':
          return { status: 'rejected', code: outcome.code, sessionEnded: true }
        case 'none':
          return { status: 'rejected', code: 'ERR_SESSION_INVALID' }
      }
      let identity
      try {
        // The session's own end, not its ID token's (which a refresh renews): what the user page shows.
        identity = {
          ...identityFromClaims(outcome.session.claims, deps.identityRules, { primary: true, token: outcome.session.idToken }),
          expiresAt: outcome.session.expiresAt,
          idTokenExpiresAt: outcome.session.idTokenExpiresAt,
        }
      } catch (error) {
        // A missing or unverified user id claim is refused with its code; claims that cannot be read
        // at all (a corrupt session) are a missing claim too, never a 5xx.
        return { status: 'rejected', code: error instanceof AuthServiceError ? error.code : 'ERR_IDENTITY_CLAIM_MISSING' }
      }
      return returnsRenewed && outcome.renewed
        ? { status: 'valid', identity, renewed: { ticket: outcome.ticket, expiresAt: outcome.session.expiresAt } }
        : { status: 'valid', identity }
    },
  }
}
