/**
 * A session ticket → the live session, refreshed when its ID token nears expiry.
 *
 * Refresh (RFC 6749 §6) runs when `offline_access` gave a refresh token and the ID token has less
 * than a quarter of its lifetime left, so the `authorization: Bearer` header sent upstream is never
 * expired. It is single-flight: within this process (one promise per session) and, with the redis
 * store, across replicas (the store's lock). A refreshed ticket is remembered for a minute under the
 * old one, so requests still carrying the old cookie (concurrent requests, or an Envoy that does
 * not pass Set-Cookie on allow) reuse the result instead of refreshing again. The new ID token
 * must keep the same `iss` and `sub` (the OIDF refresh-token tests). `invalid_grant` ends the
 * session (Dex keeps one refresh token per user and client: a login elsewhere revokes this one).
 */
import type { Clock } from '../clock.js'
import { sha256 } from '../digest.js'
import { AuthServiceError, SessionStoreUnavailableError, type AuthServiceErrorCode } from '../errors.js'
import type { TokenClient } from '../oidc/token-client.js'
import { verifyToken, type TokenVerifier } from '../oidc/token-verifier.js'
import { claimsForSession } from './claims.js'
import type { Session } from './session.js'
import type { SessionStore } from './store.js'

export type SessionOutcome =
  | { readonly status: 'none' }
  | { readonly status: 'valid'; readonly session: Session; readonly ticket: string; readonly renewed: boolean }
  | { readonly status: 'ended'; readonly code: AuthServiceErrorCode }
  | { readonly status: 'unavailable' }

export interface SessionAuthOptions {
  readonly store: SessionStore
  readonly tokens: TokenClient
  readonly verifier: TokenVerifier
  readonly clock: Clock
  /** SET_AUTHORIZATION_HEADER: an expired ID token that cannot be refreshed ends the session. */
  readonly requireFreshIdToken: boolean
  /** USERID_CLAIM and GROUPS_CLAIM, kept in the session besides the standard claims. */
  readonly identityClaims: readonly string[]
  readonly onRefreshError?: (error: unknown) => void
  /**
   * A refresh ended (once per refresh, however many checks shared it): `ok`, the new tokens are
   * stored; `rejected`, the provider refused it and the session ended. Other failures go to onRefreshError.
   */
  readonly onRefresh?: (result: 'ok' | 'rejected') => void
}

const REMEMBER_RENEWED_MS = 60_000
const MAX_REMEMBERED = 1_000

/** Refresh when less than a quarter of the ID token's lifetime is left (between 2 s and 5 min). */
export function refreshDue(session: Session, nowMs: number): boolean {
  if (session.refreshToken === undefined) return false
  const issuedAt = typeof session.claims.iat === 'number' ? session.claims.iat * 1000 : session.createdAt
  const window = Math.min(5 * 60_000, Math.max(2_000, (session.idTokenExpiresAt - issuedAt) / 4))
  return session.idTokenExpiresAt - nowMs < window
}

export function createSessionAuthenticator(options: SessionAuthOptions) {
  const { store, clock } = options
  const inFlight = new Map<string, Promise<{ session: Session; ticket: string } | undefined>>()
  const renewed = new Map<string, { session: Session; ticket: string; until: number }>()

  async function refresh(session: Session): Promise<{ session: Session; ticket: string }> {
    const tokens = await options.tokens.refresh(session.refreshToken as string)
    const verified = await verifyToken(options.verifier, tokens.idToken)
    if (verified.claims.iss !== session.claims.iss || verified.claims.sub !== session.claims.sub) {
      throw new AuthServiceError('ERR_REFRESH_REJECTED', 'refreshed token is for another subject')
    }
    const next: Session = {
      ...session,
      claims: claimsForSession(verified.claims, options.identityClaims),
      idToken: tokens.idToken,
      refreshToken: tokens.refreshToken ?? session.refreshToken,
      idTokenExpiresAt: verified.expiresAtMs,
    }
    const saved = { session: next, ticket: await store.save(next, clock.now()) }
    options.onRefresh?.('ok')
    return saved
  }

  function refreshOnce(session: Session) {
    let running = inFlight.get(session.id)
    if (!running) {
      running = store.exclusive(session.id, () => refresh(session)).finally(() => inFlight.delete(session.id))
      inFlight.set(session.id, running)
    }
    return running
  }

  function remember(oldTicket: string, result: { session: Session; ticket: string }, now: number) {
    if (result.ticket === oldTicket) return
    renewed.set(sha256(oldTicket), { ...result, until: now + REMEMBER_RENEWED_MS })
    if (renewed.size > MAX_REMEMBERED) renewed.delete(renewed.keys().next().value as string)
  }

  /**
   * With `dryRun` nothing changes anywhere: no refresh (no token-endpoint call, no store write) and
   * no removal of a dead session; the outcome is what the session is now.
   */
  return async function authenticate(ticket: string, run: { readonly dryRun?: boolean } = {}): Promise<SessionOutcome> {
    const now = clock.now()
    // Hashed only when a renewal is remembered: almost always none, and every check passes here.
    const remembered = renewed.size === 0 ? undefined : renewed.get(sha256(ticket))
    if (remembered && remembered.until > now && remembered.session.expiresAt > now) {
      return { status: 'valid', session: remembered.session, ticket: remembered.ticket, renewed: true }
    }
    let session: Session | undefined
    try {
      session = await store.load(ticket, now)
    } catch (error) {
      if (error instanceof SessionStoreUnavailableError) return { status: 'unavailable' }
      throw error
    }
    if (!session) return { status: 'none' }
    if (!run.dryRun && refreshDue(session, now)) {
      try {
        const result = await refreshOnce(session)
        if (result) {
          remember(ticket, result, now)
          return { status: 'valid', session: result.session, ticket: result.ticket, renewed: result.ticket !== ticket }
        }
        // Another replica holds the refresh lock: it will store the result; use what we have meanwhile.
      } catch (error) {
        if (error instanceof SessionStoreUnavailableError) return { status: 'unavailable' }
        if (error instanceof AuthServiceError && error.code === 'ERR_REFRESH_REJECTED') {
          options.onRefresh?.('rejected')
          await store.remove(ticket).catch(() => undefined)
          return { status: 'ended', code: 'ERR_REFRESH_REJECTED' }
        }
        options.onRefreshError?.(error)
      }
    }
    if (options.requireFreshIdToken && session.idTokenExpiresAt <= now) {
      // Istio's RequestAuthentication would refuse the expired token we would forward.
      return { status: 'ended', code: 'ERR_TOKEN_EXPIRED' }
    }
    return { status: 'valid', session, ticket, renewed: false }
  }
}

export type SessionAuthenticator = ReturnType<typeof createSessionAuthenticator>
