/**
 * Identity → the headers the upstream receives, as one table read from the config once. Each row
 * names a header and how an identity fills it; a row whose value is absent either removes the
 * client's header (an identity header must never come from the client) or leaves it alone (the
 * client's own `authorization` when we have no ID token to put there). Adding a header is one row.
 */
import type { Identity } from './identity.js'

export interface IdentityHeaderRow {
  /** Lower-case header name. */
  readonly header: string
  /** The value for `identity`, or undefined when it has none. */
  value(identity: Identity): string | undefined
  /** What an absent value does: remove the client's header, or keep what the client sent. */
  readonly absent: 'remove' | 'keep'
}

export interface IdentityHeaderSettings {
  /** USERID_HEADER, lower-case. */
  readonly userIdHeader: string
  /** GROUPS_HEADER, lower-case. */
  readonly groupsHeader: string
  /** SET_AUTHORIZATION_HEADER: forward `authorization: Bearer <Dex id_token>` (Kubeflow ≥ 1.9). */
  readonly setAuthorizationHeader: boolean
  /** SET_XAUTHREQUEST: oauth2-proxy's `x-auth-request-user`, `-email` and `-groups` (Kubeflow ≥ 1.9). */
  readonly setXAuthRequest: boolean
}

export function identityHeaderTable(settings: IdentityHeaderSettings): readonly IdentityHeaderRow[] {
  const userId = (identity: Identity): string => identity.userId
  // An empty header value may be dropped on the way; no groups removes the client's header instead.
  const groups = (identity: Identity): string | undefined => (identity.groups.length > 0 ? identity.groups.join(',') : undefined)
  const rows: IdentityHeaderRow[] = [
    { header: settings.userIdHeader, value: userId, absent: 'remove' },
    { header: settings.groupsHeader, value: groups, absent: 'remove' },
  ]
  if (settings.setAuthorizationHeader) {
    // Only Dex's own ID token is forwarded (identity.idToken is unset for other issuers).
    rows.push({ header: 'authorization', value: (identity) => (identity.idToken === undefined ? undefined : `Bearer ${identity.idToken}`), absent: 'keep' })
  }
  // oauth2-proxy's X-Auth-Request-* (Kubeflow ≥ 1.9 sets set_xauthrequest) are rows whatever
  // SET_XAUTHREQUEST says: off (and always for the preferred username, which we never set) they have
  // no value, so a client-sent one is removed in every mode and on skip paths. User is the user id
  // sent in USERID_HEADER. A header USERID_HEADER or GROUPS_HEADER already names keeps that row:
  // one row per header, so an answer never sets and removes the same header.
  const on = settings.setXAuthRequest
  const none = (): undefined => undefined
  const oauth2Proxy: IdentityHeaderRow[] = [
    { header: 'x-auth-request-user', value: on ? userId : none, absent: 'remove' },
    { header: 'x-auth-request-email', value: on ? (identity) => (identity.email === '' ? undefined : identity.email) : none, absent: 'remove' },
    { header: 'x-auth-request-groups', value: on ? groups : none, absent: 'remove' },
    { header: 'x-auth-request-preferred-username', value: none, absent: 'remove' },
  ]
  rows.push(...oauth2Proxy.filter((row) => !rows.some((taken) => taken.header === row.header)))
  return rows
}

/** The headers a request without an identity must not carry upstream (a skip path). */
export function identityHeaderNames(table: readonly IdentityHeaderRow[]): string[] {
  return table.filter((row) => row.absent === 'remove').map((row) => row.header)
}
