/**
 * Small pure parsers for environment-variable text, used by the table in config/schema.ts.
 * They return a `Parsed` value instead of throwing: bad user input is expected, and the loader
 * wants every problem at once. List parsers name entries by position, and only the algorithm,
 * regexp and issuer-rules parsers (never used on secrets) repeat any input, so a secret cannot leak
 * through a problem. The loader prefixes each problem or warning with the variable's name.
 */
import type { AllowLogging, ExtraIssuerEntry, ExtraIssuerRules, SameSite, UserIdTransformer } from './types.js'

export type Parsed<T> =
  | { readonly ok: true; readonly value: T; readonly warning?: string | undefined }
  | { readonly ok: false; readonly problem: string }

export type Parser<T> = (text: string) => Parsed<T>

export const ok = <T>(value: T, warning?: string): Parsed<T> => ({ ok: true, value, warning })
export const fail = <T = never>(problem: string): Parsed<T> => ({ ok: false, problem })

/** The value of a parse that cannot fail (a schema default); a failure here is a bug in the table. */
export function unwrap<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new Error(`invalid built-in default: ${parsed.problem}`)
  return parsed.value
}

/** Any text, unchanged (client ids, claims, prefixes, secrets). */
export const text: Parser<string> = (value) => ok(value)

/** Go's strconv.ParseBool, which oidc-authservice used: exactly these spellings, nothing else. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True'])
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False'])
export const bool: Parser<boolean> = (value) =>
  TRUE.has(value) ? ok(true) : FALSE.has(value) ? ok(false) : fail('must be a boolean (true/false, t/f, 1/0)')

/** A decimal integer within [min, max]; the bound is in the problem so the fix is obvious. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  const expected =
    max === Number.MAX_SAFE_INTEGER ? `must be an integer of at least ${min}` : `must be an integer from ${min} to ${max}`
  return (value) => {
    const n = Number(value)
    // `+ 0` turns -0 into 0.
    return /^[+-]?\d+$/.test(value) && n >= min && n <= max ? ok(n + 0) : fail(expected)
  }
}

/** LOG_ALLOW_DECISIONS: `all`, `debug` or `1-in-N` (N from 2 to 1,000,000). */
export const allowLogging: Parser<AllowLogging> = (value) => {
  const word = value.trim().toLowerCase()
  if (word === 'all' || word === 'debug') return ok({ mode: word })
  const every = /^1-in-(\d{1,7})$/.exec(word)?.[1]
  const n = Number(every)
  return every !== undefined && n >= 2 && n <= 1_000_000 ? ok({ mode: 'sample', every: n }) : fail('must be all, debug or 1-in-N (N from 2 to 1000000)')
}

/** Case-insensitive choice among fixed words; `aliases` maps every accepted spelling to its value. */
export function choice<T extends string>(aliases: Readonly<Record<string, T>>): Parser<T> {
  const expected = `must be one of: ${[...new Set(Object.values(aliases))].join(', ')}`
  return (value) => {
    const key = value.toLowerCase()
    return Object.hasOwn(aliases, key) ? ok(aliases[key] as T) : fail(expected)
  }
}

/** Comma list as envconfig split it: entries trimmed, empty ones dropped. */
export const splitCommas = (value: string): string[] => value.split(',').map((entry) => entry.trim()).filter(Boolean)

/** Comma-and-whitespace list: Kubeflow writes `OIDC_SCOPES=profile email groups`. */
export const splitWords = (value: string): string[] => value.split(/[\s,]+/).filter(Boolean)

/** A list whose entries each go through `each`; duplicates are dropped, every bad entry is reported by position. */
export function list<T>(each: Parser<T>, split: (value: string) => string[] = splitCommas): Parser<T[]> {
  return (value) => {
    const values: T[] = []
    const problems: string[] = []
    split(value).forEach((entry, index) => {
      const parsed = each(entry)
      if (parsed.ok) values.push(parsed.value)
      else problems.push(`entry ${index + 1}: ${parsed.problem}`)
    })
    return problems.length > 0 ? fail(problems.join('; ')) : ok([...new Set(values)])
  }
}

/** RFC 7230 §3.2.6 token: the characters allowed in a header name (and, by RFC 6265, a cookie name). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** Header names are case-insensitive, and Envoy hands them over lower-cased, so store them that way. */
export const headerName: Parser<string> = (value) =>
  TOKEN.test(value) ? ok(value.toLowerCase()) : fail('must be an HTTP header name (RFC 7230 token characters)')

/** Cookie names are case-sensitive, so they are kept as given. */
export const cookieName: Parser<string> = (value) =>
  TOKEN.test(value) ? ok(value) : fail('must be a cookie name (RFC 6265 token characters)')

/** An absolute http or https URL; the scheme check comes first because URL() accepts `http:foo`. */
export const isHttpUrl = (value: string): boolean => /^https?:\/\/./i.test(value) && URL.canParse(value)

export const path: Parser<string> = (value) => (value.startsWith('/') ? ok(value) : fail('must be a path starting with /'))

/** A JavaScript regular expression's source, checked to compile (the check compiles it again, once). */
export const regexSource: Parser<string> = (value) => {
  try {
    new RegExp(value)
    return ok(value)
  } catch {
    return fail(`is not a valid regular expression: ${value}`)
  }
}

/** Kept byte-for-byte: a redirect_uri must match what the provider registered exactly. */
export const urlOrPath: Parser<string> = (value) =>
  value.startsWith('/') || isHttpUrl(value) ? ok(value) : fail('must be an absolute http(s) URL or a path starting with /')

/** AUTHSERVICE_URL_PREFIX: derived URLs are `<prefix>oidc/callback` etc., so it always ends with `/`. */
export const urlPrefix: Parser<string> = (value) => {
  if (!value.startsWith('/') && !isHttpUrl(value)) return fail('must be an absolute http(s) URL or a path starting with /')
  if (/[?#]/.test(value)) return fail('must not contain a query or fragment')
  return ok(value.endsWith('/') ? value : `${value}/`)
}

/** CHECK_PATH_PREFIX is stripped from a path that then keeps its own leading `/`. */
export const checkPathPrefix: Parser<string> = (value) =>
  value === '' || (value.startsWith('/') && !value.endsWith('/'))
    ? ok(value)
    : fail('must start with / and not end with /')

/**
 * The issuer is compared byte-for-byte with discovery, so it is kept exactly. Plain http is allowed
 * because Kubeflow's in-cluster Dex is `http://dex.auth.svc.cluster.local:5556/dex`.
 */
export const issuerUrl: Parser<string> = (value) => {
  if (!isHttpUrl(value)) return fail('must be an absolute http or https URL')
  if (/[?#]/.test(value)) return fail('must not contain a query or fragment (OpenID Connect Discovery §2)')
  return /^http:/i.test(value)
    ? ok(value, 'uses plain http: fine for an in-cluster provider, but tokens and the client secret travel unencrypted')
    : ok(value)
}

/** SESSION_SAME_SITE: oidc-authservice treated every value but None and Strict as Lax; so do we, with a warning. */
const SAME_SITE = new Map<string, SameSite>([['lax', 'Lax'], ['strict', 'Strict'], ['none', 'None']])
export const sameSite: Parser<SameSite> = (value) => {
  const known = SAME_SITE.get(value.toLowerCase())
  return known ? ok(known) : ok('Lax', 'is not None, Strict or Lax; using Lax, as oidc-authservice did')
}

/** `host:port` (host may be a bracketed IPv6 literal), as Redis clients take it. */
export const hostPort: Parser<string> = (value) => {
  const match = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(value)
  const port = Number(match?.[1])
  return port >= 1 && port <= 65535 ? ok(value) : fail('must be host:port with a port from 1 to 65535')
}

/** A comma list of at least one `host:port` (Sentinels, Cluster nodes). */
export const hostPorts: Parser<string[]> = (value) => {
  const parsed = list(hostPort)(value)
  return parsed.ok && parsed.value.length === 0 ? fail('must list at least one host:port') : parsed
}

/** OAuth scopes (RFC 6749 §3.3): `openid` is forced first, as oidc-authservice did. */
export const scopes: Parser<string[]> = (value) => {
  const parsed = list<string>(
    (scope) => (/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope) ? ok(scope) : fail('is not a valid OAuth scope')),
    splitWords,
  )(value)
  return parsed.ok ? ok(['openid', ...parsed.value.filter((scope) => scope !== 'openid')]) : parsed
}

/** A key in base64 or base64url, padding optional; decodes to at least `minBytes` bytes. */
export function base64Key(minBytes: number): Parser<Uint8Array> {
  return (value) => {
    const bare = value.replace(/={1,2}$/, '')
    const wellFormed =
      /^(?:[A-Za-z0-9+/]+|[A-Za-z0-9_-]+)$/.test(bare) &&
      bare.length % 4 !== 1 &&
      (bare === value || value.length % 4 === 0)
    if (!wellFormed) return fail('must be base64 or base64url')
    // Buffer's base64 decoder also reads the URL-safe alphabet; copy out of Buffer's shared pool.
    const bytes = new Uint8Array(Buffer.from(bare, 'base64'))
    return bytes.length >= minBytes ? ok(bytes) : fail(`must decode to at least ${minBytes} bytes`)
  }
}

/** JWT signature algorithms we can verify with a provider's public keys (RFC 7518 §3.1, RFC 8037). */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])

const algorithm: Parser<string> = (value) => {
  if (ASYMMETRIC.has(value)) return ok(value)
  if (value.toLowerCase() === 'none') return fail('none is not allowed: unsigned tokens could be forged by anyone')
  if (/^HS/i.test(value)) {
    return fail(`${value} is not allowed: HMAC needs a shared secret, and with public keys it invites key-confusion forgeries`)
  }
  return fail(`must be one of ${[...ASYMMETRIC].join(', ')}`)
}

export const jwtAlgorithms: Parser<string[]> = (value) => {
  const parsed = list(algorithm)(value)
  return parsed.ok && parsed.value.length === 0 ? fail('must list at least one algorithm') : parsed
}

/** The issuer of legacy secret-based service-account tokens: not a URL, and only the Kubernetes source may take it. */
const LEGACY_SERVICE_ACCOUNT_ISSUER = 'kubernetes/serviceaccount'

/**
 * EXTRA_JWT_ISSUERS entry: `issuer=audience` (split at the first `=`; an issuer URL has none before
 * it), or a bare `issuer` whose tokens must carry one of AUDIENCES (audience '' here, resolved when
 * the verifier is built).
 */
export const extraIssuer: Parser<ExtraIssuerEntry> = (value) => {
  const eq = value.indexOf('=')
  const issuer = (eq < 0 ? value : value.slice(0, eq)).trim()
  const audience = eq < 0 ? '' : value.slice(eq + 1).trim()
  if (issuer === LEGACY_SERVICE_ACCOUNT_ISSUER) {
    return fail(`${issuer} is the issuer of legacy service-account tokens, which never expire: use KUBERNETES_TOKENS=true with KUBERNETES_LEGACY_TOKENS=true (a TokenReview) instead`)
  }
  if (!isHttpUrl(issuer)) return fail('issuer must be an absolute http or https URL (issuer=audience)')
  return eq < 0 || audience ? ok({ issuer, audience }) : fail('audience must not be empty')
}

/** EXTRA_JWT_ISSUER_RULES for an issuer it does not name: the safe choice (types.ts ExtraIssuerRules). */
export const DEFAULT_EXTRA_ISSUER_RULES: ExtraIssuerRules = { useridClaim: 'sub', emailDomains: 'apply' }

/** One issuer's rules: only the known members, each checked; the defaults fill the rest. */
function issuerRules(issuer: string, value: unknown): Parsed<ExtraIssuerRules> {
  if (!isHttpUrl(issuer)) return fail(`${JSON.stringify(issuer)}: must be an issuer URL listed in EXTRA_JWT_ISSUERS`)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`${issuer}: must be an object with "useridClaim" and/or "emailDomains"`)
  }
  const { useridClaim = DEFAULT_EXTRA_ISSUER_RULES.useridClaim, emailDomains = DEFAULT_EXTRA_ISSUER_RULES.emailDomains, ...unknown } =
    value as Record<string, unknown>
  const problems = Object.keys(unknown).map((key) => `${issuer}: unknown member ${JSON.stringify(key)} (useridClaim, emailDomains)`)
  if (typeof useridClaim !== 'string' || useridClaim === '') problems.push(`${issuer}: useridClaim must be a non-empty string (a claim name)`)
  if (emailDomains !== 'apply' && emailDomains !== 'skip') problems.push(`${issuer}: emailDomains must be "apply" or "skip"`)
  return problems.length > 0 ? fail(problems.join('; ')) : ok({ useridClaim: useridClaim as string, emailDomains: emailDomains as 'apply' | 'skip' })
}

/**
 * EXTRA_JWT_ISSUER_RULES: a JSON object keyed by issuer URL, e.g.
 * `{"https://token.actions.githubusercontent.com": {"useridClaim": "repository", "emailDomains": "skip"}}`.
 * Whether each key is in EXTRA_JWT_ISSUERS is checked by the loader, which knows both.
 */
export const extraIssuerRules: Parser<{ issuer: string; rules: ExtraIssuerRules }[]> = (value) => {
  let rules: unknown
  try {
    rules = JSON.parse(value)
  } catch {
    return fail('must be valid JSON')
  }
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    return fail('must be a JSON object keyed by issuer URL: {"<issuer>": {"useridClaim": "sub", "emailDomains": "apply"}}')
  }
  const parsed = Object.entries(rules).map(([issuer, each]) => ({ issuer, rules: issuerRules(issuer, each) }))
  const problems = parsed.flatMap(({ rules }) => (rules.ok ? [] : [rules.problem]))
  return problems.length > 0 ? fail(problems.join('; ')) : ok(parsed.map(({ issuer, rules }) => ({ issuer, rules: unwrap(rules) })))
}

/** Go regexp flag groups `(?i)`, `(?s)`, `(?m)` at the start mean the same as the JavaScript flags. */
const GO_FLAGS = /^\(\?([ims]+)\)/

function compileRule(rule: unknown): Parsed<UserIdTransformer> {
  const { matches, replaces } = (rule ?? {}) as Record<string, unknown>
  if (typeof matches !== 'string' || typeof replaces !== 'string') {
    return fail('must be an object with string "matches" and "replaces"')
  }
  const flags = GO_FLAGS.exec(matches)
  try {
    // Global, because Go's ReplaceAllString replaces every match.
    const regexp = new RegExp(matches.slice(flags?.[0].length ?? 0), `${[...new Set(flags?.[1])].join('')}g`)
    return ok({ matches: regexp, replaces })
  } catch (error) {
    return fail(`invalid regular expression (${(error as Error).message})`)
  }
}

/** USERID_TRANSFORMERS: a JSON array of `{"matches": "<regexp>", "replaces": "<replacement>"}`. */
export const userIdTransformers: Parser<UserIdTransformer[]> = (value) => {
  let rules: unknown
  try {
    rules = JSON.parse(value)
  } catch {
    return fail('must be valid JSON')
  }
  if (!Array.isArray(rules)) return fail('must be a JSON array of {"matches", "replaces"} objects')
  const compiled = rules.map(compileRule)
  const problems = compiled.flatMap((parsed, index) => (parsed.ok ? [] : [`rule ${index + 1}: ${parsed.problem}`]))
  return problems.length > 0 ? fail(problems.join('; ')) : ok(compiled.map((parsed) => unwrap(parsed)))
}
