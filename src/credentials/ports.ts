/**
 * A credential source: one place a request may carry a credential, and how to establish who it
 * stands for. The check runs the sources in a fixed order (sources.ts) and the first one that
 * establishes an identity wins; a source that finds nothing is passed over at no cost.
 */
import type { AuthServiceErrorCode } from '../errors.js'
import type { Identity } from '../identity/identity.js'

/** The sources, by the name the decision log and `via` use. */
export type SourceName = 'kubernetes' | 'authorization' | 'id-token-header' | 'id-token-cookie' | 'session-header' | 'session-cookie'

/** What a source reads of the request: lower-case headers and the cookies, parsed once per request. */
export interface CarryingRequest {
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly cookies: Readonly<Record<string, string | undefined>>
}

export interface EstablishOptions {
  /**
   * Establish without side effects: no token-endpoint call (no refresh), no session-store write or
   * delete. The service runs with side effects; a replay of a request (explain) runs without.
   */
  readonly dryRun: boolean
}

export type Established =
  | {
      readonly status: 'valid'
      readonly identity: Identity
      /** A renewed session ticket to send back as the session cookie, and its session's end (ms). */
      readonly renewed?: { readonly ticket: string; readonly expiresAt: number }
    }
  /** Presented and refused; `sessionEnded` when it was a session that has ended (clear its cookie). */
  | { readonly status: 'rejected'; readonly code: AuthServiceErrorCode; readonly sessionEnded?: boolean }
  | { readonly status: 'unavailable'; readonly what: 'provider' | 'session-store' }

export interface CredentialSource {
  readonly name: SourceName
  /** The credential this source finds in the request, or undefined. Cheap: no I/O, no crypto. */
  carried(request: CarryingRequest): string | undefined
  /** Who the credential stands for, or why it is refused. Never throws. */
  establish(credential: string, options: EstablishOptions): Promise<Established>
}
