/**
 * `authservice check-config`: loads the environment exactly as `serve` does (config/load.ts),
 * then contacts the OIDC provider the way the service will — discovery with the exact-issuer rule
 * (oidc/discovery.ts), then the keys at `jwks_uri` — with timeouts, and prints what it found: the
 * issuer, the endpoints, every signing key's kid and algorithm, and each warning. Exit 0 when the
 * service could work with it, 1 with the problems otherwise.
 *
 * Never prints a secret: configuration problems and warnings name variables, never values; the
 * client secret, session secrets and Redis password are only said to be set.
 */
import { loadConfig, type Env, type ReadFile } from '../config/load.js'
import type { Config } from '../config/types.js'
import { ConfigError } from '../errors.js'
import { createFetchWithCa, type Fetch } from '../oidc/fetch.js'
import { discover, discoveryUrl, type ProviderMetadata } from '../oidc/discovery.js'

export interface CheckConfigIo {
  readonly env: Env
  readonly readFile: ReadFile
  readonly fetch: Fetch
  out(text: string): void
  /** Per request to the provider (default 5 s). */
  readonly timeoutMs?: number
}

export interface SigningKey {
  readonly kid: string
  readonly alg: string | undefined
  readonly kty: string | undefined
  readonly crv: string | undefined
}

/** Every message of an error and its causes (fetch hides the socket error in `cause`), with codes. */
export function describeError(error: unknown): string {
  const parts: string[] = []
  let current: unknown = error
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    const { message, code } = current as { message?: unknown; code?: unknown }
    const text = typeof message === 'string' && message !== '' ? message : String(current)
    const withCode = typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text
    if (!parts.includes(withCode)) parts.push(withCode)
    current = (current as { cause?: unknown }).cause
  }
  return parts.join(': ')
}

/** Whether a key can verify tokens signed with one of `algorithms` (its `alg`, or else its key type). */
export function keyFitsAlgorithms(key: SigningKey, algorithms: readonly string[]): boolean {
  if (key.alg !== undefined) return algorithms.includes(key.alg)
  const family: Record<string, RegExp> = { RSA: /^(RS|PS)\d+$/, EC: /^ES\d+$/, OKP: /^EdDSA$/ }
  const pattern = family[key.kty ?? '']
  return pattern !== undefined && algorithms.some((alg) => pattern.test(alg))
}

interface KeysFound {
  readonly keys: SigningKey[]
  /** Keys the service skips: no kid, or not for signatures. */
  readonly skipped: number
}

async function fetchKeys(fetch: Fetch, jwksUri: string, timeoutMs: number): Promise<KeysFound> {
  const response = await fetch(jwksUri, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) })
  if (response.status !== 200) throw new Error(`the keys endpoint answered ${response.status}`)
  const body = (await response.json()) as { keys?: unknown } | null
  if (!Array.isArray(body?.keys)) throw new Error('the keys document has no "keys" array')
  const keys: SigningKey[] = []
  let skipped = 0
  for (const jwk of body.keys as Array<Record<string, unknown> | null>) {
    // The same rule as oidc/key-set.ts: a key needs a kid, and `use`, when given, must be sig.
    if (typeof jwk?.kid !== 'string' || (jwk.use !== undefined && jwk.use !== 'sig')) {
      skipped++
      continue
    }
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
    keys.push({ kid: jwk.kid, alg: text(jwk.alg), kty: text(jwk.kty), crv: text(jwk.crv) })
  }
  return { keys, skipped }
}

interface IssuerReport {
  readonly lines: string[]
  readonly problems: string[]
  readonly warnings: string[]
}

async function checkIssuer(issuer: string, config: Config, fetch: Fetch, timeoutMs: number, primary: boolean): Promise<IssuerReport> {
  const lines: string[] = []
  const problems: string[] = []
  const warnings: string[] = []
  let metadata: ProviderMetadata
  try {
    metadata = await discover({ issuer, fetch, timeoutMs })
  } catch (error) {
    lines.push(`  discovery      FAILED (${discoveryUrl(issuer)})`)
    problems.push(`${issuer}: ${describeError(error)}`)
    return { lines, problems, warnings }
  }
  lines.push(`  discovery      ok (${discoveryUrl(issuer)})`, `  issuer         ${metadata.issuer}`)
  if (primary) {
    const authorization = metadata.authorization_endpoint ?? '(none)'
    lines.push(`  authorization  ${authorization}${config.authUrl ? ` — browsers are sent to ${config.authUrl} (OIDC_AUTH_URL)` : ''}`)
    lines.push(`  token          ${metadata.token_endpoint ?? '(none)'}`)
    if (metadata.end_session_endpoint) lines.push(`  end session    ${metadata.end_session_endpoint}`)
    if (metadata.revocation_endpoint) lines.push(`  revocation     ${metadata.revocation_endpoint}`)
    if (!metadata.authorization_endpoint && !config.authUrl) {
      warnings.push('the provider advertises no authorization_endpoint and OIDC_AUTH_URL is not set: browsers cannot be sent to log in')
    }
    if (!metadata.token_endpoint) warnings.push('the provider advertises no token_endpoint: browser logins cannot exchange their code')
  }
  let found: KeysFound
  try {
    found = await fetchKeys(fetch, metadata.jwks_uri, timeoutMs)
  } catch (error) {
    lines.push(`  keys           FAILED (${metadata.jwks_uri})`)
    problems.push(`${issuer}: cannot load the signing keys from ${metadata.jwks_uri}: ${describeError(error)}`)
    return { lines, problems, warnings }
  }
  lines.push(`  keys           ${found.keys.length} signing key${found.keys.length === 1 ? '' : 's'} (${metadata.jwks_uri})`)
  for (const key of found.keys) {
    const fits = keyFitsAlgorithms(key, config.jwtAlgorithms)
    lines.push(`                   kid ${key.kid}  alg ${key.alg ?? '(any)'}  kty ${key.kty ?? '?'}${key.crv ? ` ${key.crv}` : ''}${fits ? '' : '  — not usable with JWT_ALGORITHMS'}`)
  }
  if (found.skipped > 0) warnings.push(`${issuer}: ${found.skipped} key(s) without a kid or not for signatures are ignored`)
  if (found.keys.length === 0) problems.push(`${issuer}: publishes no signing keys`)
  else if (!found.keys.some((key) => keyFitsAlgorithms(key, config.jwtAlgorithms))) {
    problems.push(`${issuer}: no signing key fits JWT_ALGORITHMS (${config.jwtAlgorithms.join(', ')}), so every token would be refused`)
  }
  return { lines, problems, warnings }
}

/** Where the redis store's Redis is, and how it is reached (never a password). */
function redisLine(config: Config): string {
  const where =
    config.redisSentinelAddrs.length > 0
      ? `master ${config.redisSentinelMasterName} via Sentinels ${config.redisSentinelAddrs.join(', ')}`
      : config.redisClusterAddrs.length > 0
        ? `Cluster nodes ${config.redisClusterAddrs.join(', ')}`
        : config.redisAddr
  const how = [
    config.redisUsername === undefined ? [] : [`user ${config.redisUsername}`],
    config.redisPassword ? ['password set'] : [],
    config.redisTls ? [config.redisCaBundle === undefined ? 'TLS' : 'TLS (own CA bundle)'] : [],
  ].flat()
  return `redis at ${where} db ${config.redisDb}${how.map((part) => `, ${part}`).join('')} (not contacted)`
}

function settingsLines(config: Config): string[] {
  const sessions =
    config.sessionStoreType === 'redis'
      ? redisLine(config)
      : `cookie store, ${config.sessionSecrets.length > 0 ? `${config.sessionSecrets.length} key(s) from SESSION_SECRETS` : 'key derived from CLIENT_SECRET'}`
  return [
    `  client         ${config.clientId} (secret set, not shown)`,
    `  redirect       ${config.redirectUrl}`,
    `  scopes         ${config.scopes.join(' ')}`,
    `  sessions       ${sessions}`,
    `  listens        check on ${config.serverHostname || '0.0.0.0'}:${config.serverPort}, readiness on :${config.readinessProbePort}`,
  ]
}

/** Runs the command; resolves with the exit code. */
export async function checkConfig(io: CheckConfigIo): Promise<number> {
  const timeoutMs = io.timeoutMs ?? 5_000
  const say = (lines: string[]) => io.out(`${lines.join('\n')}\n`)
  let loaded
  try {
    loaded = loadConfig(io.env, io.readFile)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    say(['Configuration: INVALID', ...error.problems.map((problem) => `  problem: ${problem}`), '', 'Not usable: fix the variables above.'])
    return 1
  }
  const { config, warnings } = loaded
  const fetch = config.caBundle ? createFetchWithCa(config.caBundle) : io.fetch
  say(['Configuration: valid', ...settingsLines(config), ...warnings.map((warning) => `  warning: ${warning}`)])

  const problems: string[] = []
  const allWarnings: string[] = []
  say(['', `Identity provider ${config.issuer}`])
  const primary = await checkIssuer(config.issuer, config, fetch, timeoutMs, true)
  say(primary.lines)
  problems.push(...primary.problems)
  allWarnings.push(...primary.warnings)
  for (const extra of config.extraIssuers) {
    const { useridClaim, emailDomains } = extra.rules
    say(['', `Extra issuer ${extra.issuer} (audience ${extra.audience || config.audiences.join(', ')}; user id from ${useridClaim}, email domains ${emailDomains})`])
    const report = await checkIssuer(extra.issuer, config, fetch, timeoutMs, false)
    say(report.lines)
    // The service starts and serves without an extra issuer; its tokens just fail until it answers.
    allWarnings.push(...report.warnings, ...report.problems.map((problem) => `extra issuer not usable yet: ${problem}`))
  }

  const summary = ['']
  summary.push(...allWarnings.map((warning) => `warning: ${warning}`))
  summary.push(...problems.map((problem) => `problem: ${problem}`))
  summary.push(problems.length === 0 ? 'Usable: the service can start with this configuration.' : 'Not usable: see the problem above.')
  say(summary)
  return problems.length === 0 ? 0 : 1
}
