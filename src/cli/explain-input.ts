/**
 * What `authservice explain` is asked about, from the forms an operator has at hand: a curl-like
 * command line (`-H 'name: value'`, `-X METHOD`, `-b cookies`, a URL or a path) and a decision log
 * line copied from the service's own logs (`--log-line '<json>'`). `-H @-` and `--log-line -` read
 * standard input, so a token never has to appear on a command line (a `kubectl exec` argument lands
 * in the API server's audit log).
 */

/** The fields of a decision log line explain reads (check/handle.ts writes them). */
export interface LoggedDecision {
  readonly outcome: string
  readonly reason: string
  readonly codes?: readonly string[]
  readonly user?: string
  readonly kind?: string
  readonly source?: string
  readonly credential?: string
  readonly method: string
  readonly path: string
}

export interface ExplainInput {
  readonly method: string
  /** Path and query as the client sent them. */
  readonly target: string
  /** The URL's scheme and authority, when a URL was given. */
  readonly scheme?: string
  /** Lower-case names; repeated headers joined as HTTP joins them. */
  readonly headers: Readonly<Record<string, string>>
  readonly json: boolean
  readonly logged?: LoggedDecision
}

export class ExplainUsageError extends Error {}

/** curl options that change nothing the check sees, so a pasted curl command works as it is. */
const IGNORED_FLAGS = new Set(['-s', '-S', '-v', '-i', '-k', '-L', '-f', '--compressed', '--silent', '--show-error', '--verbose', '--include', '--insecure', '--location', '--fail'])

interface Parsed {
  method?: string
  url?: string
  headerLines: string[]
  cookies: string[]
  headersFromStdin: boolean
  logLine?: string
  data: boolean
  json: boolean
}

function parseArgs(argv: readonly string[]): Parsed {
  const parsed: Parsed = { headerLines: [], cookies: [], headersFromStdin: false, data: false, json: false }
  const args = argv[0] === 'curl' ? argv.slice(1) : argv
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    const value = (): string => {
      const next = args[++i]
      if (next === undefined) throw new ExplainUsageError(`${arg} needs a value`)
      return next
    }
    if (arg === '-H' || arg === '--header') {
      const header = value()
      if (header === '@-') parsed.headersFromStdin = true
      else parsed.headerLines.push(header)
    } else if (arg === '-X' || arg === '--request') parsed.method = value()
    else if (arg === '-b' || arg === '--cookie') parsed.cookies.push(value())
    else if (arg === '-d' || arg === '--data' || arg === '--data-raw' || arg === '--data-binary') {
      value()
      parsed.data = true
    } else if (arg === '--log-line' || arg === '--from-log') parsed.logLine = value()
    else if (arg === '--json') parsed.json = true
    else if (IGNORED_FLAGS.has(arg)) continue
    else if (arg.startsWith('-')) throw new ExplainUsageError(`unknown option ${JSON.stringify(arg)}`)
    else if (parsed.url === undefined) parsed.url = arg
    else throw new ExplainUsageError(`unexpected argument ${JSON.stringify(arg)}`)
  }
  return parsed
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** `name: value` lines (curl's -H form); blank lines are skipped, anything else is a usage error. */
export function parseHeaderLines(lines: readonly string[], cookies: readonly string[] = []): Record<string, string> {
  const headers: Record<string, string> = {}
  const add = (name: string, value: string) => {
    const existing = headers[name]
    // RFC 9110 §5.3 joins repeated fields with a comma; Cookie is joined with "; " (RFC 6265 §5.4).
    headers[name] = existing === undefined ? value : `${existing}${name === 'cookie' ? '; ' : ', '}${value}`
  }
  for (const line of lines) {
    const trimmed = line.replace(/\r$/, '')
    if (trimmed.trim() === '') continue
    const colon = trimmed.indexOf(':')
    const name = colon === -1 ? '' : trimmed.slice(0, colon).trim().toLowerCase()
    // Never echo the line: it may be `Authorization: Bearer …` with a typo.
    if (!TOKEN.test(name)) throw new ExplainUsageError('a header is not of the form "name: value"')
    add(name, trimmed.slice(colon + 1).trim())
  }
  for (const cookie of cookies) add('cookie', cookie)
  return headers
}

/** A decision log line (JSON, as the service writes it), or a usage error naming what is missing. */
export function parseLogLine(line: string): LoggedDecision {
  let value: unknown
  try {
    value = JSON.parse(line.trim())
  } catch {
    throw new ExplainUsageError('--log-line: not a JSON log line')
  }
  const fields = (value ?? {}) as Record<string, unknown>
  const text = (name: string) => (typeof fields[name] === 'string' ? (fields[name] as string) : undefined)
  const outcome = text('outcome')
  const method = text('method')
  const path = text('path')
  if (outcome === undefined || method === undefined || path === undefined) {
    throw new ExplainUsageError('--log-line: not a decision line (it needs outcome, method and path)')
  }
  const codes = Array.isArray(fields.codes) ? fields.codes.filter((code): code is string => typeof code === 'string') : undefined
  const optional = Object.fromEntries(
    (['user', 'kind', 'source', 'credential'] as const).flatMap((name) => (text(name) === undefined ? [] : [[name, text(name)]])),
  )
  return { outcome, reason: text('reason') ?? '', ...(codes ? { codes } : {}), ...optional, method, path }
}

/** The target and scheme of a URL or a path; the URL's authority becomes the Host header. */
function targetOf(url: string): { target: string; scheme?: string; host?: string } {
  if (url.startsWith('/')) return { target: url }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ExplainUsageError(`not a URL or a path: ${JSON.stringify(url.slice(0, 200))}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ExplainUsageError('only http and https URLs reach the gateway')
  // The path as typed, not as the URL parser resolved it: `/public/../x` must reach the check's own
  // normalisation, which explain shows (curl without --path-as-is would resolve it, too).
  const afterAuthority = url.indexOf('/', url.indexOf('//') + 2)
  const raw = afterAuthority === -1 ? '/' : (url.slice(afterAuthority).split('#')[0] as string)
  return { target: raw, scheme: parsed.protocol.slice(0, -1), host: parsed.host }
}

/**
 * The request to explain. `readStdin` is called at most once, for `-H @-` or `--log-line -`.
 * @throws ExplainUsageError
 */
export async function readExplainInput(argv: readonly string[], readStdin: () => Promise<string>): Promise<ExplainInput> {
  const parsed = parseArgs(argv)
  if (parsed.headersFromStdin && parsed.logLine === '-') throw new ExplainUsageError('-H @- and --log-line - cannot both read standard input')
  const stdin = parsed.headersFromStdin || parsed.logLine === '-' ? await readStdin() : ''
  const logged = parsed.logLine === undefined ? undefined : parseLogLine(parsed.logLine === '-' ? stdin : parsed.logLine)
  const url = parsed.url ?? logged?.path
  if (url === undefined) throw new ExplainUsageError('give the URL (or path) of the request, or --log-line')
  const { target, scheme, host } = targetOf(url)
  const headers = parseHeaderLines([...parsed.headerLines, ...(parsed.headersFromStdin ? stdin.split('\n') : [])], parsed.cookies)
  // An explicit Host header wins over the URL's authority, as with curl.
  if (host !== undefined && headers.host === undefined) headers.host = host
  const method = (parsed.method ?? logged?.method ?? (parsed.data ? 'POST' : 'GET')).toUpperCase()
  return { method, target, ...(scheme ? { scheme } : {}), headers, json: parsed.json, ...(logged ? { logged } : {}) }
}
