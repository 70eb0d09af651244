/** Normalises the path of a checked request (RFC 3986 §6.2.2) and matches it against path prefixes on segment boundaries. */

/** A normalised path; an `ambiguous` one may be read differently by the upstream, so it never matches a prefix. */
export interface NormalizedPath {
  readonly path: string
  readonly ambiguous: boolean
}

const SLASH = 0x2f
const BACKSLASH = 0x5c
const DOT = 0x2e
const SEMICOLON = 0x3b

/**
 * What each octet becomes in the normalised path (RFC 3986 §6.2.2.1 and §6.2.2.2): unreserved
 * characters (§2.3: ALPHA DIGIT - . _ ~) are decoded, every other octet stays percent-encoded with
 * upper-case hex. Built once so decoding is a table lookup.
 */
const CANONICAL: readonly string[] = Array.from({ length: 256 }, (_, octet) => {
  const char = String.fromCharCode(octet)
  return /^[A-Za-z0-9\-._~]$/.test(char) ? char : `%${octet.toString(16).toUpperCase().padStart(2, '0')}`
})

/** Hex digit value, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  const lower = code | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/** Splits a request target (origin-form, RFC 3986 §3.3/§3.4) at the first `?`; the query excludes the `?`. */
export function splitTarget(target: string): { path: string; query: string } {
  const mark = target.indexOf('?')
  if (mark === -1) return { path: target, query: '' }
  return { path: target.slice(0, mark), query: target.slice(mark + 1) }
}

/**
 * Percent-decodes unreserved octets and upper-cases the rest (§6.2.2.1, §6.2.2.2). An encoded `/` or
 * `\` is ambiguous: §2.2 says it is data, not a delimiter, but many servers decode it into one. So is
 * a `%` without two hex digits (§2.1), which servers repair in different ways; it is kept literally.
 */
function decodeUnreserved(path: string): NormalizedPath {
  let out = ''
  let copied = 0
  let ambiguous = false
  for (let at = path.indexOf('%'); at !== -1; at = path.indexOf('%', at + 1)) {
    const high = hexValue(path.charCodeAt(at + 1))
    const low = hexValue(path.charCodeAt(at + 2))
    if (high === -1 || low === -1) {
      ambiguous = true
      continue
    }
    const octet = high * 16 + low
    if (octet === SLASH || octet === BACKSLASH) ambiguous = true
    out += path.slice(copied, at) + CANONICAL[octet]
    copied = at + 3
    at += 2
  }
  return { path: out + path.slice(copied), ambiguous }
}

/** Length of the dot segment (`.` = 1, `..` = 2) starting at `start`, or 0 when the segment is not one. */
function dotSegmentLength(path: string, start: number, end: number): number {
  const length = end - start
  if (length === 1 && path.charCodeAt(start) === DOT) return 1
  if (length === 2 && path.charCodeAt(start) === DOT && path.charCodeAt(start + 1) === DOT) return 2
  return 0
}

/**
 * A segment such as `..;x` or `.;`: not a dot segment to RFC 3986, but servlet containers strip the
 * `;` path parameter and then treat it as one (the classic `/public/..;/private` bypass).
 */
function isDotSegmentWithParameters(path: string, start: number, end: number): boolean {
  if (path.charCodeAt(start) !== DOT) return false
  const semicolon = path.charCodeAt(start + 1) === DOT ? start + 2 : start + 1
  return semicolon < end && path.charCodeAt(semicolon) === SEMICOLON
}

/** True when any segment from `first` on is `.` or `..`: the common case has none and is left alone. */
function hasDotSegment(path: string, first: number): boolean {
  for (let start = first, end = 0; start <= path.length; start = end + 1) {
    end = segmentEnd(path, start)
    if (dotSegmentLength(path, start, end) > 0) return true
  }
  return false
}

/** End of the segment starting at `start` (the index of the next `/`, or the path length). */
function segmentEnd(path: string, start: number): number {
  const slash = path.indexOf('/', start)
  return slash === -1 ? path.length : slash
}

/**
 * Removes `.` and `..` segments (RFC 3986 §5.2.4), expressed over segments rather than the RFC's
 * string buffer: `.` is dropped, `..` drops the previous segment (never above the root), and a
 * trailing dot segment leaves a trailing `/`. Paths without dot segments are returned as they are.
 */
function removeDotSegments(path: string): string {
  const first = path.charCodeAt(0) === SLASH ? 1 : 0
  if (!hasDotSegment(path, first)) return path

  const kept: string[] = []
  let trailingSlash = false
  for (let start = first, end = 0; start <= path.length; start = end + 1) {
    end = segmentEnd(path, start)
    const dots = dotSegmentLength(path, start, end)
    trailingSlash = dots > 0
    if (dots === 2) kept.pop()
    else if (dots === 0) kept.push(path.slice(start, end))
  }
  const joined = kept.join('/')
  const withSlash = trailingSlash && kept.length > 0 ? `${joined}/` : joined
  return first === 1 ? `/${withSlash}` : withSlash
}

/** True for structure that servers read differently: no leading `/`, `\`, empty segments, `..;`-style segments. */
function hasAmbiguousShape(path: string): boolean {
  if (path.charCodeAt(0) !== SLASH) return true
  if (path.includes('\\') || path.includes('//')) return true
  if (!path.includes(';')) return false
  for (let start = 1, end = 0; start <= path.length; start = end + 1) {
    end = segmentEnd(path, start)
    if (isDotSegmentWithParameters(path, start, end)) return true
  }
  return false
}

/**
 * Syntax-based normalisation (RFC 3986 §6.2.2): decode unreserved octets, upper-case the remaining
 * percent-encodings, then remove dot segments. Decoding comes first so `%2e%2e` is a `..` segment.
 * Case is otherwise preserved: a path is case-sensitive (§6.2.2.1 only folds scheme, host and hex).
 */
export function normalizePath(path: string): NormalizedPath {
  const decoded = path.includes('%') ? decodeUnreserved(path) : { path, ambiguous: false }
  return {
    path: removeDotSegments(decoded.path),
    ambiguous: decoded.ambiguous || hasAmbiguousShape(decoded.path),
  }
}

/** A prefix entry reduced to the segments it must match: `/api/` and `/api` both become `/api`. */
function prefixBase(entry: string): string | undefined {
  const normalized = normalizePath(entry)
  // An ambiguous entry could only ever match ambiguous paths, and those never match.
  if (normalized.ambiguous) return undefined
  const { path } = normalized
  return path.endsWith('/') ? path.slice(0, -1) : path
}

/** True when `path` is `base` or continues it with a new segment (`base/...`). */
function matchesBase(path: string, base: string): boolean {
  return path.startsWith(base) && (path.length === base.length || path.charCodeAt(base.length) === SLASH)
}

/**
 * Builds a finder for path prefixes on segment boundaries (RFC 3986 §3.3): `/dex` matches `/dex`
 * and `/dex/x`, never `/dexfoo`; a trailing `/` in an entry is insignificant. Comparison is
 * case-sensitive and on normalised paths; an ambiguous path never matches. Entries are normalised
 * once here; empty or ambiguous entries are dropped, and the entry `/` matches every unambiguous path.
 * It answers the first entry, as configured, that matches (what `authservice explain` shows).
 */
export function createPrefixFinder(prefixes: readonly string[]): (normalized: NormalizedPath) => string | undefined {
  const bases = new Map<string, string>()
  for (const entry of prefixes) {
    const base = entry === '' ? undefined : prefixBase(entry)
    if (base !== undefined && !bases.has(base)) bases.set(base, entry)
  }
  return (normalized) => {
    if (normalized.ambiguous) return undefined
    for (const [base, entry] of bases) if (matchesBase(normalized.path, base)) return entry
    return undefined
  }
}

/** Whether a path matches one of the prefixes (createPrefixFinder's rule). */
export function createPrefixMatcher(prefixes: readonly string[]): (normalized: NormalizedPath) => boolean {
  const find = createPrefixFinder(prefixes)
  return (normalized) => find(normalized) !== undefined
}
