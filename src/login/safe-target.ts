/**
 * Where a browser may be sent after login or logout: only a same-origin relative path. Rejects
 * scheme-relative (`//evil`), backslash tricks (`/\evil`, which browsers treat as `//`), any
 * scheme, control characters (header injection), and encoded variants of those
 * (RFC 9700 §4.11 open redirectors). Anything else falls back.
 */

/** Anything but printable ASCII: control characters (header injection) and non-ASCII (not valid in Location). */
const NOT_PRINTABLE_ASCII = /[^\u0021-\u007e]/
const CONTROL = /[\u0000-\u001f\u007f]/

export function safeRelativeTarget(candidate: string | undefined, fallback = '/'): string {
  if (candidate === undefined || candidate === '' || candidate.length > 4096) return fallback
  if (!candidate.startsWith('/') || NOT_PRINTABLE_ASCII.test(candidate)) return fallback
  const second = candidate[1]
  if (second === '/' || second === '\\') return fallback
  let decoded = candidate
  try {
    decoded = decodeURIComponent(candidate)
  } catch {
    return fallback
  }
  if (decoded.startsWith('//') || decoded.startsWith('/\\') || CONTROL.test(decoded)) return fallback
  if (decoded.includes('\\')) return fallback
  return candidate
}
