/**
 * The Kubernetes service-account token source (KUBERNETES_TOKENS): which bearer values it takes,
 * and what it establishes from the offline verification and the TokenReview — an identity with the
 * review's username and groups, a refusal with its code, or "unavailable".
 */
import t from 'tap'
import type { JWTPayload } from 'jose'
import { kubernetesTokenSource, type KubernetesTokenDependencies } from '../../../src/credentials/kubernetes-token.js'
import { ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { ReviewOutcome } from '../../../src/oidc/token-review.js'

const ISSUER = 'https://kubernetes.default.svc.cluster.local'
const SUBJECT = 'system:serviceaccount:kubeflow-user-example-com:default-editor'
const GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:kubeflow-user-example-com', 'system:authenticated']
const NOW = 1_800_000_000
const BOUND: JWTPayload = { iss: ISSUER, sub: SUBJECT, aud: ['gateway'], iat: NOW, exp: NOW + 3600 }
const LEGACY: JWTPayload = { iss: 'kubernetes/serviceaccount', sub: SUBJECT }

const jws = (payload: object) =>
  ['{"alg":"RS256","kid":"k"}', JSON.stringify(payload), 'sig'].map((part, index) => (index === 2 ? part : Buffer.from(part).toString('base64url'))).join('.')

interface Setup {
  claims?: JWTPayload
  error?: unknown
  review?: ReviewOutcome | 'off'
  keysLoaded?: boolean
}

function setup(options: Setup) {
  const reviews: Array<readonly string[] | undefined> = []
  const answer = options.review
  const unexpected: unknown[] = []
  const deps: KubernetesTokenDependencies = {
    verifier: {
      async check(token) {
        if (options.error instanceof TokenRejectedError) return options.error
        if (options.error !== undefined) throw options.error
        return { token, issuer: ISSUER, primary: false, claims: options.claims ?? BOUND, expiresAtMs: 0 }
      },
    },
    issuers: new Set([ISSUER, 'kubernetes/serviceaccount']),
    audiences: ['gateway'],
    maxLifetimeSeconds: 86400,
    review:
      answer === 'off'
        ? undefined
        : async (_token, audiences) => {
            reviews.push(audiences)
            return answer ?? { status: 'authenticated', username: SUBJECT, groups: GROUPS }
          },
    keysLoaded: () => options.keysLoaded ?? true,
    onUnexpectedError: (error) => unexpected.push(error),
  }
  return { source: kubernetesTokenSource(deps), reviews, unexpected }
}

const establish = (options: Setup) => {
  const built = setup(options)
  return built.source.establish('the.token.value', { dryRun: false }).then((result) => ({ result, ...built }))
}

t.test('carries only bearer JWS values of the cluster\'s issuers', async (t) => {
  const { source } = setup({})
  const carried = (authorization: string | undefined) => source.carried({ headers: { authorization }, cookies: {} })
  t.equal(source.name, 'kubernetes')
  t.equal(carried(`Bearer ${jws(BOUND)}`), jws(BOUND), 'a bound token')
  t.equal(carried(`Bearer ${jws(LEGACY)}`), jws(LEGACY), 'a legacy token')
  t.equal(carried(`Bearer ${jws({ iss: 'http://dex.auth.svc.cluster.local:5556/dex' })}`), undefined, 'a Dex token')
  t.equal(carried('Bearer not-a-jws'), undefined, 'junk')
  t.equal(carried(undefined), undefined, 'nothing')
})

t.test('a confirmed bound token: the review\'s username and groups, no email, no ID token, the groups policy only', async (t) => {
  const { result, reviews } = await establish({})
  // Issue 15, finding 6: said explicitly, since an identity without an email is refused by ALLOWED_EMAIL_DOMAINS otherwise.
  t.same(result, { status: 'valid', identity: { userId: SUBJECT, groups: GROUPS, email: undefined, idToken: undefined, emailDomains: 'skip' } })
  t.same(reviews, [['gateway']], 'reviewed once, for KUBERNETES_TOKEN_AUDIENCES')
})

t.test('a legacy token is reviewed without audiences', async (t) => {
  const { result, reviews } = await establish({ claims: LEGACY })
  t.equal(result.status, 'valid')
  t.same(reviews, [undefined])
})

t.test('refusals before any review', async (t) => {
  for (const [name, claims, claim] of [
    ['a lifetime over KUBERNETES_TOKEN_MAX_LIFETIME_SECONDS', { ...BOUND, exp: NOW + 86401 }, 'exp'],
    ['a subject that is no service account', { ...BOUND, sub: 'alice' }, 'sub'],
    ['no subject', { ...BOUND, sub: undefined }, 'sub'],
  ] as const) {
    const { result, reviews } = await establish({ claims })
    t.same(result, { status: 'rejected', code: 'ERR_TOKEN_CLAIM_INVALID' }, `${name} (${claim})`)
    t.same(reviews, [], `${name}: no review`)
  }
  const forged = await establish({ error: TokenRejectedError.refusal('ERR_TOKEN_SIGNATURE_INVALID', 'bad') })
  t.same(forged.result, { status: 'rejected', code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'a bad signature')
  t.same(forged.reviews, [], 'a bad signature: no review')
})

t.test('what the review says', async (t) => {
  t.same((await establish({ review: { status: 'refused' } })).result, { status: 'rejected', code: 'ERR_TOKEN_REVIEW_REFUSED' }, 'deleted account: refused')
  t.same(
    (await establish({ review: { status: 'authenticated', username: 'system:serviceaccount:other:default', groups: [] } })).result,
    { status: 'rejected', code: 'ERR_TOKEN_REVIEW_REFUSED' },
    'another user than the token names: refused',
  )
  t.same((await establish({ review: { status: 'unavailable' } })).result, { status: 'unavailable', what: 'provider' }, 'API server unreachable')
})

t.test('KUBERNETES_TOKENREVIEW=false: the signature alone, with the groups Kubernetes gives every service account', async (t) => {
  const { result } = await establish({ review: 'off' })
  t.same(result, { status: 'valid', identity: { userId: SUBJECT, groups: GROUPS, email: undefined, idToken: undefined, emailDomains: 'skip' } })
})

t.test('keys', async (t) => {
  const unknownKey = TokenRejectedError.refusal('ERR_TOKEN_UNKNOWN_KEY', 'unknown key')
  t.same((await establish({ error: unknownKey, keysLoaded: false })).result, { status: 'unavailable', what: 'provider' }, 'not loaded yet: unavailable')
  t.same((await establish({ error: unknownKey })).result, { status: 'rejected', code: 'ERR_TOKEN_UNKNOWN_KEY' }, 'loaded: an unknown key is refused')
  t.same((await establish({ error: new ProviderUnavailableError() })).result, { status: 'unavailable', what: 'provider' }, 'keys unavailable')
  const bug = await establish({ error: new TypeError('a bug') })
  t.same(bug.result, { status: 'rejected', code: 'ERR_TOKEN_MALFORMED' }, 'a bug fails closed')
  t.equal(bug.unexpected.length, 1, 'and is reported')
})

t.test('the review\'s username and groups become headers: a control character refuses, a group with "," is set aside', async (t) => {
  const odd = 'system:serviceaccount:kubeflow-user-example-com:a\u0007b'
  const unsafe = await establish({ claims: { ...BOUND, sub: odd }, review: { status: 'authenticated', username: odd, groups: GROUPS } })
  t.same(unsafe.result, { status: 'rejected', code: 'ERR_CLAIM_HEADER_UNSAFE' })
  const comma = await establish({ review: { status: 'authenticated', username: SUBJECT, groups: [...GROUPS, 'team-a,system:masters'] } })
  t.same(comma.result, { status: 'valid', identity: { userId: SUBJECT, groups: GROUPS, email: undefined, idToken: undefined, emailDomains: 'skip', codes: ['ERR_GROUP_NAME_INVALID'] } })
})
