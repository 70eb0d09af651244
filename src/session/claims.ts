/** The subset of ID-token claims a session keeps: what the identity headers and refresh need. */
import type { JWTPayload } from 'jose'
import type { SessionClaims } from './session.js'

const KEPT = ['iss', 'sub', 'iat', 'exp', 'email', 'email_verified', 'name', 'preferred_username', 'groups'] as const

/** Keeps the standard identity claims plus USERID_CLAIM and GROUPS_CLAIM when they are others. */
export function claimsForSession(claims: JWTPayload, extra: readonly string[] = []): SessionClaims {
  const kept: Record<string, unknown> = {}
  for (const name of [...KEPT, ...extra]) if (claims[name] !== undefined) kept[name] = claims[name]
  return kept as unknown as SessionClaims
}
