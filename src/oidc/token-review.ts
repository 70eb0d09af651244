/**
 * Asks the Kubernetes API server whether a service-account token is still good: a TokenReview
 * (authentication.k8s.io/v1, `POST /apis/authentication.k8s.io/v1/tokenreviews`, sent with the
 * pod's own token), as oidc-authservice's authenticator_kubernetes.go did. The API server answers
 * `authenticated: false` for a token whose service account, pod or secret has been deleted.
 *
 * - Only successes are cached, for `cacheSeconds` (at most 60: a deletion takes effect within it);
 *   a refusal or a failure is asked again next time.
 * - At most `maxInFlight` reviews run at once (the same token shares one); more wait in a bounded
 *   queue, and a full queue is "unavailable" rather than a pile-up on the API server.
 * - Each review has a `timeoutMs` deadline; an API server that cannot be reached, times out or
 *   answers anything but 201/200 with a TokenReview is "unavailable": never cached, never an allow.
 */
import { createHash } from 'node:crypto'
import type { Clock } from '../clock.js'
import type { Fetch } from './fetch.js'

export type ReviewOutcome =
  | { readonly status: 'authenticated'; readonly username: string; readonly groups: readonly string[] }
  | { readonly status: 'refused' }
  | { readonly status: 'unavailable' }

/** Reviews `token`; `audiences` (bound tokens) are sent as `spec.audiences`, none for legacy tokens. Never rejects. */
export type TokenReviewer = (token: string, audiences?: readonly string[]) => Promise<ReviewOutcome>

export interface TokenReviewOptions {
  /** The API server's base URL (`https://kubernetes.default.svc`). */
  readonly apiServer: string
  readonly fetch: Fetch
  /** The pod's own token as `authorization: Bearer`, read fresh for every review. */
  readonly headers: () => Record<string, string>
  readonly clock: Clock
  readonly cacheSeconds: number
  readonly maxInFlight?: number
  readonly maxWaiting?: number
  readonly timeoutMs?: number
  readonly maxEntries?: number
}

export const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews'

const UNAVAILABLE: ReviewOutcome = { status: 'unavailable' }
const REFUSED: ReviewOutcome = { status: 'refused' }

/** The review's verdict from its answer (authentication.k8s.io/v1 TokenReviewStatus). */
function outcomeOf(body: unknown): ReviewOutcome {
  const status = (body as { status?: { authenticated?: unknown; user?: { username?: unknown; groups?: unknown } } } | null)?.status
  if (status?.authenticated !== true) return REFUSED
  const { username, groups } = status.user ?? {}
  if (typeof username !== 'string' || username === '') return REFUSED
  return {
    status: 'authenticated',
    username,
    groups: Array.isArray(groups) ? groups.filter((group): group is string => typeof group === 'string') : [],
  }
}

export function createTokenReviewer(options: TokenReviewOptions): TokenReviewer {
  const maxInFlight = options.maxInFlight ?? 4
  const maxWaiting = options.maxWaiting ?? 256
  const timeoutMs = options.timeoutMs ?? 3_000
  const maxEntries = options.maxEntries ?? 10_000
  const url = new URL(TOKEN_REVIEW_PATH, options.apiServer).toString()
  const cache = new Map<string, { outcome: ReviewOutcome; until: number }>()
  const pending = new Map<string, Promise<ReviewOutcome>>()
  const waiting: Array<() => void> = []
  let running = 0

  async function slot(): Promise<boolean> {
    if (running < maxInFlight) {
      running += 1
      return true
    }
    if (waiting.length >= maxWaiting) return false
    // The slot is handed over by release(), so `running` never drops in between.
    await new Promise<void>((resolve) => waiting.push(resolve))
    return true
  }

  function release(): void {
    const next = waiting.shift()
    if (next) next()
    else running -= 1
  }

  async function send(token: string, audiences: readonly string[] | undefined): Promise<ReviewOutcome> {
    const response = await options.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers() },
      body: JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: audiences === undefined ? { token } : { token, audiences },
      }),
      signal: AbortSignal.timeout(timeoutMs),
    })
    if (response.status !== 201 && response.status !== 200) {
      await response.arrayBuffer()
      return UNAVAILABLE
    }
    return outcomeOf(await response.json())
  }

  async function ask(token: string, audiences: readonly string[] | undefined): Promise<ReviewOutcome> {
    if (!(await slot())) return UNAVAILABLE
    const outcome = await send(token, audiences).catch(() => UNAVAILABLE)
    release()
    return outcome
  }

  return async (token, audiences) => {
    const key = createHash('sha256').update(token).update('\0').update(audiences?.join(',') ?? '').digest('base64url')
    const now = options.clock.now()
    const cached = cache.get(key)
    if (cached && cached.until > now) return cached.outcome
    cache.delete(key)
    let review = pending.get(key)
    if (!review) {
      review = ask(token, audiences).then((outcome) => {
        pending.delete(key)
        if (outcome.status === 'authenticated' && options.cacheSeconds > 0) {
          // The oldest entry goes first (a Map keeps insertion order).
          if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string)
          cache.set(key, { outcome, until: options.clock.now() + options.cacheSeconds * 1000 })
        }
        return outcome
      })
      pending.set(key, review)
    }
    return review
  }
}
