/**
 * The explanation of one replayed check (check/handle.ts createReplayer): the verdict and every
 * reason — skip-path matching after normalisation, the request kind and what decided it, each
 * credential source, the policy, and the exact answer Envoy would get — as data, for `--json` and
 * for the text of explain-render.ts. Secrets never enter it: header values that carry credentials
 * become fingerprints, Set-Cookie values and a forwarded ID token are left out.
 */
import type { ReplayedCheck } from '../check/handle.js'
import type { CheckWhy } from '../check/pipeline.js'
import type { KindSignal } from '../check/request-kind.js'
import { credentialFingerprint } from '../check/fingerprint.js'
import type { Config } from '../config/types.js'
import { parseCookies } from '../session/cookies.js'
import { credentialReason, type CredentialContext, type CredentialReason } from './explain-credentials.js'
import { skipHints } from './explain-skip.js'
import type { ExplainInput } from './explain-input.js'

export type HeaderPairs = ReadonlyArray<readonly [string, string]>

export interface Answer {
  /** 200 = allowed: Envoy forwards the request upstream with these changes. */
  readonly status: number
  readonly forwarded: boolean
  /** Allow: set on the upstream request; deny: sent to the client. */
  readonly headers: HeaderPairs
  /** Allow: removed from the upstream request. */
  readonly removed: readonly string[]
  /** Allow: added to the client's response. */
  readonly responseHeaders: HeaderPairs
  readonly location?: string
}

export interface Explanation {
  readonly request: { readonly method: string; readonly target: string; readonly path: string; readonly headers: HeaderPairs }
  readonly verdict: { readonly outcome: string; readonly reason: string; readonly codes: readonly string[]; readonly user?: string }
  /** The service's own endpoint this request is (answered by authservice, not replayed). */
  readonly endpoint?: string
  readonly skip?: { readonly rule?: string; readonly rules: readonly string[]; readonly ambiguous: boolean; readonly hints: readonly string[] }
  readonly kind?: { readonly kind: string; readonly signal?: KindSignal; readonly because: string }
  readonly credentials: readonly CredentialReason[]
  readonly identity?: { readonly user: string; readonly email?: string; readonly groups: readonly string[] }
  readonly policy: { readonly groups: readonly string[]; readonly emailDomains: readonly string[]; readonly result: string }
  readonly answer?: Answer
  readonly notes: readonly string[]
  readonly exitCode: 0 | 1 | 3
}

/** Header names whose value is a credential (shown as a fingerprint). */
function credentialHeaders(config: Config): Set<string> {
  return new Set(['authorization', 'proxy-authorization', 'x-auth-token', config.authHeader, config.idTokenHeader])
}

/** A credential header's value as it may be shown: its scheme and the fingerprint of the rest. */
function maskCredential(value: string): string {
  const space = value.indexOf(' ')
  const scheme = space > 0 && /^[A-Za-z]+$/.test(value.slice(0, space)) ? value.slice(0, space) : undefined
  const credential = scheme === undefined ? value : value.slice(space + 1).trim()
  return `${scheme ? `${scheme} ` : ''}<sha256 ${credentialFingerprint(credential)}>`
}

/** The request's headers with every credential replaced by its fingerprint. */
export function shownRequestHeaders(headers: Readonly<Record<string, string>>, config: Config): HeaderPairs {
  const secret = credentialHeaders(config)
  return Object.entries(headers).map(([name, value]): [string, string] => {
    if (name === 'cookie') {
      const cookies = Object.entries(parseCookies(value)).map(([cookie, content]) => `${cookie}=<sha256 ${credentialFingerprint(String(content))}>`)
      return [name, cookies.join('; ')]
    }
    return [name, secret.has(name) ? maskCredential(value) : value]
  })
}

/**
 * The target with its query's values left out: a query can hold an authorization code or a token
 * (the service logs paths without their query for the same reason); the names stay.
 */
export function shownTarget(target: string): string {
  const mark = target.indexOf('?')
  if (mark === -1) return target
  const names = target.slice(mark + 1).split('&').map((pair) => `${pair.split('=')[0]}=…`)
  return `${target.slice(0, mark)}?${names.join('&')}`
}

/** A Set-Cookie without its value (a session ticket or a sealed login state). */
function maskSetCookie(value: string): string {
  const semicolon = value.indexOf(';')
  const pair = semicolon === -1 ? value : value.slice(0, semicolon)
  const name = pair.slice(0, pair.indexOf('='))
  const cleared = /max-age=0/i.test(value) || pair.endsWith('=')
  return `${name}=${cleared ? '' : '<not shown>'}${semicolon === -1 ? '' : value.slice(semicolon)}`
}

function shownReplyHeaders(headers: HeaderPairs): HeaderPairs {
  return headers.map(([name, value]): [string, string] => {
    if (name === 'set-cookie') return [name, maskSetCookie(value)]
    // SET_AUTHORIZATION_HEADER forwards the Dex ID token upstream.
    if (name === 'authorization') return [name, maskCredential(value)]
    return [name, value]
  })
}

function answerOf(replayed: Exclude<ReplayedCheck, { endpoint: string }>): Answer {
  const { reply } = replayed
  if (reply.kind === 'allow') {
    return { status: 200, forwarded: true, headers: shownReplyHeaders(reply.upstreamHeaders), removed: reply.removeHeaders, responseHeaders: shownReplyHeaders(reply.responseHeaders) }
  }
  const location = reply.headers.find(([name]) => name === 'location')?.[1]
  return { status: reply.status, forwarded: false, headers: shownReplyHeaders(reply.headers), removed: [], responseHeaders: [], ...(location ? { location } : {}) }
}

const SIGNALS: Record<KindSignal, string> = {
  'sec-fetch-mode': 'XHR/fetch: Sec-Fetch-Mode is not "navigate" (a script, not the address bar)',
  'x-requested-with': 'XHR: X-Requested-With is set',
  bearer: 'API call: Authorization: Bearer (a browser never sends one on a navigation)',
  method: 'API call: only GET and HEAD can be navigations (a redirect would drop the body)',
  accept: 'API call: Accept names neither text/html nor only */*',
  'api-route': 'API call: the path matches API_ROUTES',
}

function kindBecause(signal: KindSignal | undefined, config: Config, path: string): string {
  if (signal === undefined) return 'navigation: a GET or HEAD without any API signal (no Sec-Fetch-Mode other than navigate, no X-Requested-With, no Bearer, Accept naming text/html or */*, no API_ROUTES match)'
  if (signal !== 'api-route') return SIGNALS[signal]
  const route = config.apiRoutes.find((source) => new RegExp(source).test(path))
  return `${SIGNALS[signal]} (${route})`
}

function policyResult(outcome: string, reason: string, config: Config, emailDomains: 'skip' | undefined): string {
  if (outcome === 'allow') return emailDomains === 'skip' && config.allowedEmailDomains.length > 0 ? 'allowed (by groups alone: ALLOWED_EMAIL_DOMAINS does not govern this identity)' : 'allowed'
  if (reason === 'GROUP_NOT_ALLOWED') return `denied: none of the user's groups is in GROUPS_ALLOWLIST (${config.groupsAllowlist.join(', ')})`
  if (reason === 'EMAIL_DOMAIN_NOT_ALLOWED') return `denied: no email, or its domain is not in ALLOWED_EMAIL_DOMAINS (${config.allowedEmailDomains.join(', ')})`
  return 'not reached: no identity established'
}

export function exitCodeOf(outcome: string): 0 | 1 | 3 {
  if (outcome === 'allow' || outcome === 'skip') return 0
  return outcome === 'unavailable' ? 3 : 1
}

export interface ReasonsContext extends CredentialContext {
  readonly providerReady: boolean
}

export function explain(input: ExplainInput, replayed: ReplayedCheck, context: ReasonsContext): Explanation {
  const { config } = context
  const headers = shownRequestHeaders(input.headers, config)
  const policy = { groups: config.groupsAllowlist, emailDomains: config.allowedEmailDomains }
  const notes = context.providerReady ? [] : [`the identity provider ${config.issuer} could not be reached (discovery or keys): run \`authservice check-config\``]
  if (replayed.endpoint !== undefined) {
    return {
      request: { method: input.method, target: shownTarget(input.target), path: replayed.path, headers },
      verdict: { outcome: 'endpoint', reason: replayed.endpoint.toUpperCase(), codes: [] },
      endpoint: replayed.endpoint,
      credentials: [],
      policy: { ...policy, result: 'not reached: answered by authservice itself' },
      notes: [...notes, `authservice answers ${replayed.endpoint} itself and never forwards it upstream; explain does not run it (it would change a login or a session)`],
      exitCode: 1,
    }
  }
  const { result, verdict } = replayed
  // The replay always traces; a result without (a stub's) reads as "nothing matched, nothing tried".
  const why: CheckWhy = result.why ?? { ambiguousPath: false }
  const decision = result.decision
  const identity = 'identity' in decision ? decision.identity : undefined
  return {
    request: { method: input.method, target: shownTarget(input.target), path: result.path, headers },
    verdict: {
      outcome: verdict.outcome,
      reason: verdict.reason,
      // As the decision line: an allowed or forbidden identity notes what was set aside in it (a group name).
      codes: ('codes' in verdict ? verdict.codes : identity?.codes) ?? [],
      ...(identity ? { user: identity.userId } : {}),
    },
    skip: {
      ...(why.skipRule === undefined ? {} : { rule: why.skipRule }),
      rules: config.skipAuthUrls,
      ambiguous: why.ambiguousPath,
      hints: why.skipRule === undefined ? skipHints(input.target.split('?')[0] as string, result.path, config.skipAuthUrls) : [],
    },
    kind: { kind: decision.kind, ...(why.kindSignal ? { signal: why.kindSignal } : {}), because: kindBecause(why.kindSignal, config, result.path) },
    credentials: (result.trace ?? []).map((step) => credentialReason(step, context)),
    ...(identity ? { identity: { user: identity.userId, ...(identity.email ? { email: identity.email } : {}), groups: identity.groups } } : {}),
    policy: { ...policy, result: policyResult(decision.outcome, decision.reason, config, identity?.emailDomains) },
    answer: answerOf(replayed),
    notes,
    exitCode: exitCodeOf(verdict.outcome),
  }
}
