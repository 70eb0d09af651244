/**
 * Why a path an operator believed skipped is not: the near misses of SKIP_AUTH_URLS. The match
 * itself is check/path.ts's (the pipeline says which entry matched); these hints only name the
 * rule a near miss broke — segment boundaries, dot segments removed before matching, case.
 */
import { normalizePath } from '../check/path.js'

/** An entry as check/path.ts compares it: normalised, without a trailing slash. */
function base(entry: string): string {
  const { path } = normalizePath(entry)
  return path.endsWith('/') ? path.slice(0, -1) : path
}

/** `sent`: the path as the client sent it; `normalized`: as the check compared it. */
export function skipHints(sent: string, normalized: string, rules: readonly string[]): string[] {
  const hints: string[] = []
  for (const rule of rules) {
    const prefix = base(rule)
    if (prefix === '') continue
    if (sent.startsWith(prefix) && !normalized.startsWith(prefix)) {
      hints.push(`the path as sent starts with ${rule}, but normalised (RFC 3986: dot segments removed, unreserved characters decoded) it is ${normalized}`)
    } else if (normalized.startsWith(prefix)) {
      hints.push(`${rule} matches whole segments only: ${normalized} does not continue it with "/"`)
    } else if (normalized.toLowerCase().startsWith(prefix.toLowerCase())) {
      hints.push(`${rule} differs from ${normalized} in case only: paths are case-sensitive`)
    }
  }
  return hints
}
