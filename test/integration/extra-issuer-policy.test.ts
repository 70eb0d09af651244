// Issue 15, finding 6: an extra issuer's `email` claim became kubeflow-userid unqualified, so a second
// issuer could assert admin@example.com, and ALLOWED_EMAIL_DOMAINS was skipped for identities
// without an email. Now an extra issuer's user id is its `sub` unless EXTRA_JWT_ISSUER_RULES says
// otherwise, and the domain list refuses an identity without an email unless its rule says `skip`.
// Finding 9: a service-account token (the `kubernetes.io` claim) never gets in through an extra
// issuer, only through KUBERNETES_TOKENS. Through real Envoy, with two of our test issuers.
import t, { type Test } from 'tap'
import { startAuthservice, type RunningAuthservice } from '../helpers/authservice.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, faultEnv, startFaultGateway } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer, type Claims, type TestIssuer } from '../helpers/test-issuer.js'
import { send } from '../helpers/traffic.js'

const PIPELINES = 'pipelines.kubeflow.org'
const ADMIN = 'admin@example.com'

interface Seen {
  readonly status: number
  readonly userId: string | string[] | undefined
  readonly codes: unknown
}

/** Dex-like primary issuer, a second issuer in EXTRA_JWT_ISSUERS, the service behind Envoy; `extra` sees the second issuer's URL. */
async function setUp(t: Test, extra: (secondIssuer: string) => Record<string, string>) {
  const primary = await startTestIssuer()
  t.teardown(() => primary.close())
  const second = await startTestIssuer({ audience: PIPELINES })
  t.teardown(() => second.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const provider = { issuer: primary.issuer, clientId: KUBEFLOW_CLIENT_ID, clientSecret: 'a-client-secret-of-our-own' }
  const authservice = await startAuthservice(faultEnv(provider, { EXTRA_JWT_ISSUERS: `${second.issuer}=${PIPELINES}`, ...extra(second.issuer) }))
  t.teardown(() => authservice.close())
  const { envoy } = await startFaultGateway(t, 'http', authservice, { upstreamPort: upstream.port })
  /** What the upstream saw for a bearer token of `issuer` (status, kubeflow-userid), and the logged codes. */
  const call = async (issuer: TestIssuer, claims: Claims): Promise<Seen> => {
    const answer = await send(`${envoy.url}/pipeline/apis/v2beta1/runs`, { headers: { ...API, authorization: `Bearer ${await issuer.sign(claims)}` } })
    const userId = answer.status === 200 ? (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] : undefined
    return { status: answer.status, userId, codes: lastDecision(authservice).codes }
  }
  return { primary, second, call }
}

const lastDecision = (authservice: RunningAuthservice) => authservice.logs().filter((line) => line.msg === 'decision').at(-1) ?? {}

t.test('default rules: a second issuer cannot assert admin@example.com as kubeflow-userid', { skip: skipUnlessPeers('envoy') }, async (t) => {
  const { primary, second, call } = await setUp(t, () => ({ ALLOWED_EMAIL_DOMAINS: 'example.com' }))

  const asserted = await call(second, { sub: 'ci-robot-7', email: ADMIN, email_verified: true })
  t.equal(asserted.status, 200, 'the second issuer\'s token is accepted')
  t.equal(asserted.userId, 'ci-robot-7', 'as its sub: the email it asserts never becomes the user id')
  t.not(asserted.userId, ADMIN)

  t.match(await call(second, { sub: 'ci-robot-7', email: undefined, email_verified: undefined }), { status: 403 }, 'no email under ALLOWED_EMAIL_DOMAINS: refused (it used to pass the list unchecked)')
  t.match(await call(second, { sub: 'ci-robot-7', email: 'robot@elsewhere.example' }), { status: 403 }, 'an email of another domain: refused')
  t.match(await call(primary, {}), { status: 200, userId: 'user@example.com' }, 'Dex tokens keep USERID_CLAIM (email)')
  t.match(await call(primary, { aud: KUBEFLOW_CLIENT_ID, email: undefined }), { status: 401 }, 'and are refused without it')

  const serviceAccount = {
    sub: 'system:serviceaccount:kubeflow-user-example-com:default-editor',
    email: undefined,
    'kubernetes.io': { namespace: 'kubeflow-user-example-com', serviceaccount: { name: 'default-editor', uid: '7d1f' } },
  }
  t.match(await call(second, serviceAccount), { status: 401, codes: ['ERR_IDENTITY_SERVICE_ACCOUNT'] }, 'a service-account token through an extra issuer: refused (KUBERNETES_TOKENS only)')
  t.match(await call(second, { sub: 'system:serviceaccount:kubeflow:pipeline-runner' }), { status: 401, codes: ['ERR_IDENTITY_SERVICE_ACCOUNT'] }, 'so is a sub that would name a service account')
})

t.test('EXTRA_JWT_ISSUER_RULES: the operator chooses the claim, and whether the domain list applies', { skip: skipUnlessPeers('envoy') }, async (t) => {
  const { second, call } = await setUp(t, (issuer) => ({
    ALLOWED_EMAIL_DOMAINS: 'example.com',
    EXTRA_JWT_ISSUER_RULES: JSON.stringify({ [issuer]: { useridClaim: 'email', emailDomains: 'skip' } }),
  }))
  t.match(await call(second, { sub: 'ci-robot-7', email: ADMIN, email_verified: true }), { status: 200, userId: ADMIN }, 'useridClaim email: the email, because the operator trusts this issuer with it')
  t.match(await call(second, { sub: 'ci-robot-7', email: 'robot@elsewhere.example', email_verified: true }), { status: 200 }, 'emailDomains skip: the domain list does not apply to it')
  t.match(await call(second, { sub: 'ci-robot-7', email: ADMIN, email_verified: 'true' }), { status: 401, codes: ['ERR_TOKEN_EMAIL_UNVERIFIED'] }, 'REQUIRE_EMAIL_VERIFIED holds for it')
})
