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
}

export function identityHeaderTable(settings: IdentityHeaderSettings): readonly IdentityHeaderRow[] {
  const rows: IdentityHeaderRow[] = [
    { header: settings.userIdHeader, value: (identity) => identity.userId, absent: 'remove' },
    // An empty header value may be dropped on the way; no groups removes the client's header instead.
    { header: settings.groupsHeader, value: (identity) => (identity.groups.length > 0 ? identity.groups.join(',') : undefined), absent: 'remove' },
  ]
  if (settings.setAuthorizationHeader) {
    // Only Dex's own ID token is forwarded (identity.idToken is unset for other issuers).
    rows.push({ header: 'authorization', value: (identity) => (identity.idToken === undefined ? undefined : `Bearer ${identity.idToken}`), absent: 'keep' })
  }
  return rows
}

/** The headers a request without an identity must not carry upstream (a skip path). */
export function identityHeaderNames(table: readonly IdentityHeaderRow[]): string[] {
  return table.filter((row) => row.absent === 'remove').map((row) => row.header)
}
