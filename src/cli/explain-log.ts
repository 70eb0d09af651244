/**
 * A decision log line held against the replay: the line identifies the request without its secrets
 * (method, normalised path, request kind, credential source and fingerprint), so explain replays what
 * it can and asks for what it cannot know — the credential — and says when the one it was given is
 * not the one logged, or when the verdict differs from the logged one.
 */
import type { ExplainInput, LoggedDecision } from './explain-input.js'
import type { Explanation } from './explain-reasons.js'
import { whereFound } from './explain-credentials.js'

/** When the log says "API call" but no header was given: replay it as one (the deciding header is not logged). */
export function withLoggedKind(input: ExplainInput): ExplainInput {
  const onlyHost = Object.keys(input.headers).every((name) => name === 'host')
  if (input.logged?.kind !== 'api' || !onlyHost) return input
  return { ...input, headers: { ...input.headers, accept: 'application/json' } }
}

const AS_API = 'replayed as an API call with Accept: application/json, since the header that made it one is not logged'

function loggedSummary(logged: LoggedDecision): string {
  const parts = [`${logged.outcome} ${logged.reason}`.trim()]
  if (logged.codes && logged.codes.length > 0) parts.push(logged.codes.join(', '))
  if (logged.user) parts.push(`user ${logged.user}`)
  if (logged.kind) parts.push(logged.kind === 'api' ? 'API call' : 'navigation')
  if (logged.source) parts.push(`${whereFound(logged.source)} sha256 ${logged.credential ?? '?'}`)
  return `${logged.method} ${logged.path}: ${parts.join('; ')}`
}

/**
 * The explanation with what the log line adds; exit 3 when the logged credential was not given.
 * `given` is the input as read, `replayed` as replayed (withLoggedKind).
 */
export function compareWithLog(explanation: Explanation, given: ExplainInput, replayed: ExplainInput): Explanation {
  const { logged } = given
  if (logged === undefined) return explanation
  const notes = [`the log line says ${loggedSummary(logged)}`]
  let exitCode = explanation.exitCode
  const replayedWith = explanation.credentials.find((credential) => credential.source === logged.source)
  if (logged.source !== undefined && replayedWith === undefined) {
    notes.push(
      `the request carried a credential in ${whereFound(logged.source)} (sha256 ${logged.credential ?? '?'}), which a log never holds: ` +
        'give it on standard input (-H @-) to replay the request with it; without it the verdict above is that of the same request without a credential',
    )
    exitCode = 3
  } else if (replayedWith !== undefined && logged.credential !== undefined && replayedWith.fingerprint !== logged.credential) {
    notes.push(`the credential given (sha256 ${replayedWith.fingerprint}) is not the one logged (sha256 ${logged.credential}): this explains another request`)
  }
  if (replayed !== given) notes.push(AS_API)
  if (exitCode !== 3 && logged.outcome !== explanation.verdict.outcome) {
    notes.push(`logged ${logged.outcome}, replayed now ${explanation.verdict.outcome}: a token expired or a session ended since, or the configuration changed`)
  }
  return { ...explanation, notes: [...explanation.notes, ...notes], exitCode }
}
