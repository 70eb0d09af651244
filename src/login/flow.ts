/**
 * The per-login state (RFC 9700 §2.1, §4.7): `state`, `nonce`, the PKCE verifier and the page the
 * user asked for, sealed in a short-lived cookie whose name is derived from the state. One cookie
 * per flow, so two tabs logging in at once both succeed (oidc-authservice's single
 * `oidc_state_csrf` cookie broke that, arrikto/oidc-authservice#53); at most MAX_FLOWS at once.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import * as client from 'openid-client'
import type { KeyRing } from '../session/keys.js'
import { seal, unseal } from '../session/seal.js'

export const FLOW_COOKIE_PREFIX = 'authservice_flow_'
export const FLOW_TTL_SECONDS = 600
export const MAX_FLOWS = 5
/** Flow cookies cleared in one answer at most, so the answer's header count stays small. */
export const MAX_EVICTIONS = 10

export interface LoginFlow {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
  /** The original path and query (already checked to be same-origin relative). */
  readonly target: string
  /** ms */
  readonly createdAt: number
}

export function flowCookieName(state: string): string {
  return FLOW_COOKIE_PREFIX + createHash('sha256').update(state).digest('base64url').slice(0, 16)
}

export function newFlow(target: string, nowMs: number): LoginFlow {
  return {
    state: client.randomState(),
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
    target,
    createdAt: nowMs,
  }
}

export const sealFlow = (flow: LoginFlow, ring: KeyRing) => seal(flow, ring)

/** The flow for `state`, or undefined when missing, tampered, expired or for another state. */
export async function openFlow(sealed: string | undefined, state: string, ring: KeyRing, nowMs: number): Promise<LoginFlow | undefined> {
  if (sealed === undefined) return undefined
  const flow = (await unseal(sealed, ring)) as Partial<LoginFlow> | undefined
  if (!flow || typeof flow.state !== 'string' || typeof flow.nonce !== 'string' || typeof flow.codeVerifier !== 'string') return undefined
  if (typeof flow.target !== 'string' || typeof flow.createdAt !== 'number') return undefined
  if (nowMs - flow.createdAt > FLOW_TTL_SECONDS * 1000) return undefined
  const expected = Buffer.from(flow.state)
  const given = Buffer.from(state)
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined
  return flow as LoginFlow
}

/** Exactly the names flowCookieName makes: anything else with the prefix is not ours (cookie tossing). */
const FLOW_COOKIE_NAME = /^authservice_flow_[A-Za-z0-9_-]{16}$/

/** Our flow cookies present in a request, oldest first (browsers send older cookies first, RFC 6265 §5.4). */
export function presentFlowCookies(cookies: Record<string, string | undefined>): string[] {
  return Object.keys(cookies).filter((name) => FLOW_COOKIE_NAME.test(name))
}
