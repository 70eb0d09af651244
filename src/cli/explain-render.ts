/** `authservice explain`'s text: the verdict first, then each reason on its own labelled line. */
import type { Explanation, HeaderPairs } from './explain-reasons.js'
import { whereFound } from './explain-credentials.js'

const VERDICT: Record<string, string> = {
  allow: 'ALLOWED',
  skip: 'ALLOWED (skip path, no identity)',
  forbidden: 'DENIED (403)',
  unauthenticated: 'DENIED (401)',
  login: 'DENIED: sent to log in',
  unavailable: 'UNDECIDABLE: a backend cannot be reached',
  endpoint: "AUTHSERVICE'S OWN ENDPOINT",
}

const pairs = (headers: HeaderPairs, indent: string): string[] => headers.map(([name, value]) => `${indent}${name}: ${value}`)

function answerLines(explanation: Explanation): string[] {
  const { answer } = explanation
  if (answer === undefined) return []
  if (answer.forwarded) {
    return [
      'Envoy gets   200: the request goes upstream',
      ...(answer.headers.length > 0 ? ['  headers set on the upstream request:', ...pairs(answer.headers, '    ')] : ['  no header set on the upstream request']),
      ...(answer.removed.length > 0 ? [`  headers removed from it: ${answer.removed.join(', ')}`] : []),
      ...(answer.responseHeaders.length > 0 ? ['  added to the response:', ...pairs(answer.responseHeaders, '    ')] : []),
    ]
  }
  return [`Envoy gets   ${answer.status}${answer.location ? ` to ${answer.location}` : ''}: the client gets it, nothing goes upstream`, '  headers:', ...pairs(answer.headers, '    ')]
}

export function renderText(explanation: Explanation): string {
  const { request, verdict } = explanation
  const codes = verdict.codes.length > 0 ? ` ${verdict.codes.join(', ')}` : ''
  const lines = [
    `${request.method} ${request.target}`,
    ...pairs(request.headers, '  '),
    '',
    `Verdict      ${VERDICT[verdict.outcome] ?? verdict.outcome} — ${verdict.reason}${codes}${verdict.user ? ` (user ${verdict.user})` : ''}`,
    `Path         ${request.path} after normalisation${explanation.skip?.ambiguous ? ' (ambiguous: an upstream may read it otherwise, so no skip path or API route matches it)' : ''}`,
  ]
  if (explanation.endpoint === undefined) {
    const skip = explanation.skip
    const rules = skip && skip.rules.length > 0 ? skip.rules.join(', ') : 'none'
    lines.push(skip?.rule !== undefined ? `Skip path    matches SKIP_AUTH_URLS entry ${skip.rule}: no credential is needed` : `Skip path    no SKIP_AUTH_URLS entry matches (${rules})`)
    for (const hint of skip?.hints ?? []) lines.push(`  ${hint}`)
    lines.push(`Request      ${explanation.kind?.because}`)
    if (skip?.rule === undefined) {
      lines.push(explanation.credentials.length === 0 ? 'Credentials  none carried (no bearer token, no session cookie or header)' : 'Credentials  tried in order:')
      for (const credential of explanation.credentials) {
        lines.push(`  ${whereFound(credential.source)} (sha256 ${credential.fingerprint}): ${credential.status}${credential.code ? ` ${credential.code}` : ''} — ${credential.why}`)
      }
    }
    if (explanation.identity) {
      const { identity } = explanation
      lines.push(`Identity     ${identity.user}${identity.email ? ` <${identity.email}>` : ''}, groups: ${identity.groups.length > 0 ? identity.groups.join(', ') : 'none'}`)
    }
    const { policy } = explanation
    const domains = policy.emailDomains.length > 0 ? policy.emailDomains.join(', ') : 'any'
    lines.push(`Policy       GROUPS_ALLOWLIST ${policy.groups.join(', ')}; ALLOWED_EMAIL_DOMAINS ${domains}: ${policy.result}`)
  }
  lines.push(...answerLines(explanation))
  for (const note of explanation.notes) lines.push(`Note         ${note}`)
  return `${lines.join('\n')}\n`
}
