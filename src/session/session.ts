/**
 * A login session: who logged in (the claims the identity headers are built from), the Dex tokens,
 * and its lifetime. Created at every login with a fresh random id (no fixation), ended at
 * SESSION_MAX_AGE (absolute) or by logout.
 */

/** The ID-token claims a session keeps: enough to rebuild the identity headers on every request. */
export interface SessionClaims {
  readonly iss: string
  readonly sub: string
  /** Any other claims the identity needs (USERID_CLAIM, GROUPS_CLAIM, email, email_verified). */
  readonly [claim: string]: unknown
}

export interface Session {
  /** 256-bit random id, base64url; new at every login. */
  readonly id: string
  readonly claims: SessionClaims
  /** The Dex ID token (forwarded as `authorization: Bearer` when SET_AUTHORIZATION_HEADER is on). */
  readonly idToken: string
  readonly refreshToken: string | undefined
  /** The ID token's `exp`, in ms. */
  readonly idTokenExpiresAt: number
  /** ms */
  readonly createdAt: number
  /** createdAt + SESSION_MAX_AGE, in ms: the absolute end. */
  readonly expiresAt: number
}
