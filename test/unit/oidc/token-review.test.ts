/**
 * The TokenReview client: the request it sends (authentication.k8s.io/v1, the pod's token), what
 * each answer means, the success-only cache, the in-flight limit and "unavailable" for every failure.
 */
import t from 'tap'
import type { Fetch } from '../../../src/oidc/fetch.js'
import { createTokenReviewer, TOKEN_REVIEW_PATH, type TokenReviewOptions } from '../../../src/oidc/token-review.js'

const API = 'https://kubernetes.default.svc'
const USER = { username: 'system:serviceaccount:ns:sa', groups: ['system:serviceaccounts', 7, 'system:authenticated'] }
const reviewed = (status: unknown, code = 201) => () => new Response(JSON.stringify({ kind: 'TokenReview', status }), { status: code })

function setup(answer: () => Response | Promise<Response>, extra: Partial<TokenReviewOptions> = {}) {
  let now = 0
  const calls: Array<{ url: string; method?: string; headers?: Record<string, string>; body: unknown; signal?: AbortSignal }> = []
  const fetch: Fetch = async (url, init) => {
    calls.push({ url, method: init?.method, headers: init?.headers, body: JSON.parse(init?.body ?? 'null'), signal: init?.signal })
    return answer()
  }
  const review = createTokenReviewer({ apiServer: API, fetch, headers: () => ({ authorization: 'Bearer pod' }), clock: { now: () => now }, cacheSeconds: 10, ...extra })
  return { review, calls, advance: (ms: number) => (now += ms) }
}

t.test('sends a TokenReview with the pod\'s token and reads the user', async (t) => {
  const { review, calls } = setup(reviewed({ authenticated: true, user: USER }))
  t.same(await review('tok', ['gateway']), { status: 'authenticated', username: USER.username, groups: ['system:serviceaccounts', 'system:authenticated'] })
  t.equal(calls[0]?.url, `${API}${TOKEN_REVIEW_PATH}`)
  t.equal(calls[0]?.method, 'POST')
  t.match(calls[0]?.headers, { authorization: 'Bearer pod', 'content-type': 'application/json' })
  t.same(calls[0]?.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'tok', audiences: ['gateway'] } })
  t.ok(calls[0]?.signal, 'with a deadline')
  await review('legacy')
  t.same(calls[1]?.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'legacy' } }, 'no audiences for a legacy token')
})

t.test('what an answer means', async (t) => {
  const cases: Array<[string, () => Response | Promise<Response>, string]> = [
    ['authenticated, 200', reviewed({ authenticated: true, user: { username: 'u' } }, 200), 'authenticated'],
    ['not authenticated (deleted service account)', reviewed({ authenticated: false, error: 'serviceaccounts "sa" not found' }), 'refused'],
    ['authenticated without a username', reviewed({ authenticated: true, user: {} }), 'refused'],
    ['authenticated without a user', reviewed({ authenticated: true }), 'refused'],
    ['no status', () => new Response('null', { status: 201 }), 'refused'],
    ['403 (no system:auth-delegator)', reviewed({}, 403), 'unavailable'],
    ['500', () => new Response('oops', { status: 500 }), 'unavailable'],
    ['a body that is not JSON', () => new Response('<html>', { status: 201 }), 'unavailable'],
    ['unreachable', () => Promise.reject(new TypeError('fetch failed')), 'unavailable'],
  ]
  for (const [name, answer, expected] of cases) {
    const { review } = setup(answer)
    t.equal((await review('tok', ['a'])).status, expected, name)
  }
  const { review } = setup(reviewed({ authenticated: true, user: { username: 'u', groups: 'not-a-list' } }))
  t.same(await review('tok'), { status: 'authenticated', username: 'u', groups: [] }, 'groups that are not a list: none')
})

t.test('only successes are cached, for cacheSeconds', async (t) => {
  let authenticated = true
  const { review, calls, advance } = setup(() => reviewed({ authenticated, user: USER })())
  await review('tok', ['a'])
  await review('tok', ['a'])
  t.equal(calls.length, 1, 'a success is reused')
  await review('tok', ['b'])
  t.equal(calls.length, 2, 'per audience list')
  advance(10_000)
  authenticated = false
  t.equal((await review('tok', ['a'])).status, 'refused', 'asked again after the cache time')
  t.equal((await review('tok', ['a'])).status, 'refused')
  t.equal(calls.length, 4, 'a refusal is never cached')
  const off = setup(reviewed({ authenticated: true, user: USER }), { cacheSeconds: 0 })
  await off.review('tok')
  await off.review('tok')
  t.equal(off.calls.length, 2, 'cacheSeconds 0: no cache')
  const small = setup(reviewed({ authenticated: true, user: USER }), { maxEntries: 1 })
  await small.review('one')
  await small.review('two')
  await small.review('one')
  t.equal(small.calls.length, 3, 'the oldest entry makes room')
})

t.test('at most maxInFlight reviews at once; the same token shares one; a full queue is unavailable', async (t) => {
  const releases: Array<() => void> = []
  let running = 0
  let most = 0
  const { review, calls } = setup(
    () =>
      new Promise<Response>((resolve) => {
        running += 1
        most = Math.max(most, running)
        releases.push(() => {
          running -= 1
          resolve(reviewed({ authenticated: true, user: USER })())
        })
      }),
    { maxInFlight: 2, maxWaiting: 2 },
  )
  const same = [review('t0'), review('t0')]
  const others = [review('t1'), review('t2'), review('t3')]
  t.equal((await review('t4')).status, 'unavailable', 'beyond the queue')
  while (calls.length < 4 || releases.length > 0) {
    await new Promise((resolve) => setImmediate(resolve))
    releases.shift()?.()
  }
  const results = await Promise.all([...same, ...others])
  t.ok(results.every((result) => result.status === 'authenticated'))
  t.equal(calls.length, 4, 'the same token shared one review')
  t.equal(most, 2, 'never more than maxInFlight at once')
})
