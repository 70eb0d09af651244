/**
 * Where a check request may carry a JWT: `Authorization: Bearer` (scheme case-insensitive,
 * RFC 7235 §2.1), the ID_TOKEN_HEADER (with or without `Bearer `), and the ID_TOKEN_COOKIE.
 * Candidates come in that order; the first that verifies wins, so an application's own
 * `Authorization` header does not hide a valid cookie.
 */

export interface CredentialSources {
  /** Lower-case header name of ID_TOKEN_HEADER. */
  readonly idTokenHeader: string
  readonly idTokenCookie: string | undefined
}

export interface BearerCandidate {
  readonly from: 'authorization' | 'id-token-header' | 'id-token-cookie'
  readonly token: string
}

/** The credential of `Bearer <credential>`, or undefined for another scheme. */
export function bearerCredential(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 7) return undefined
  if (value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const credential = value.slice(7).trim()
  return credential === '' ? undefined : credential
}

/** The value of one cookie in a Cookie header (RFC 6265 §5.4), without parsing the others. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      const value = pair.slice(eq + 1).trim()
      return value.startsWith('"') && value.endsWith('"') && value.length >= 2 ? value.slice(1, -1) : value
    }
  }
  return undefined
}

export function bearerCandidates(
  headers: Readonly<Record<string, string | undefined>>,
  sources: CredentialSources,
): BearerCandidate[] {
  const candidates: BearerCandidate[] = []
  const fromAuthorization = bearerCredential(headers.authorization)
  if (fromAuthorization !== undefined) candidates.push({ from: 'authorization', token: fromAuthorization })
  if (sources.idTokenHeader !== 'authorization') {
    const raw = headers[sources.idTokenHeader]?.trim()
    const token = bearerCredential(raw) ?? raw
    if (token) candidates.push({ from: 'id-token-header', token })
  }
  if (sources.idTokenCookie !== undefined) {
    const token = readCookie(headers.cookie, sources.idTokenCookie)
    if (token) candidates.push({ from: 'id-token-cookie', token })
  }
  return candidates
}
