// Why a credential source established what it did, with the values from the token's unverified claims.
import t from 'tap'
import type { SourceStep } from '../../../src/check/pipeline.js'
import { credentialReason, whereFound, type CredentialContext } from '../../../src/cli/explain-credentials.js'
import { kubeflowConfig } from '../../fixtures/config.js'

const ISSUER = 'http://dex.auth.svc.cluster.local:5556/dex'
const NOW = 1_750_000_000_000
const RULES = { useridClaim: 'sub', emailDomains: 'apply' } as const
const now = NOW / 1000
const config = kubeflowConfig({
  extraIssuers: [{ issuer: 'https://extra.example', audience: 'extra-aud', rules: RULES }, { issuer: 'https://bare.example', audience: '', rules: RULES }],
  audiences: ['istio-ingressgateway.istio-system.svc.cluster.local'],
  kubernetesTokens: { issuer: 'https://kubernetes.default.svc.cluster.local', audiences: ['authservice'], maxLifetimeSeconds: 86400, tokenReview: true, reviewCacheSeconds: 10, legacy: false },
})
const context: CredentialContext = { config, nowMs: NOW, jwksUri: `${ISSUER}/keys` }
const GOOD = { iss: ISSUER, aud: 'kubeflow-oidc-authservice', sub: 's', iat: now - 60, exp: now + 600 }

const rejected = (code: string, claims?: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' }): SourceStep => ({
  source: 'authorization',
  fingerprint: '0a1b2c3d',
  result: { status: 'rejected', code: code as never },
  ...(claims ? { unverified: { header, claims } } : {}),
})
const why = (step: SourceStep, ctx: CredentialContext = context) => credentialReason(step, ctx).why

t.test('valid and unavailable', async (t) => {
  const identity = { userId: 'alice@example.com', groups: [], email: undefined, idToken: undefined }
  t.same(credentialReason({ source: 'session-cookie', fingerprint: 'f', result: { status: 'valid', identity } }, context), { source: 'session-cookie', fingerprint: 'f', status: 'valid', why: 'establishes alice@example.com' })
  t.match(credentialReason({ source: 'session-cookie', fingerprint: 'f', result: { status: 'unavailable', what: 'session-store' } }, context), { status: 'unavailable', why: /session store cannot be reached/ })
  t.match(credentialReason({ source: 'authorization', fingerprint: 'f', result: { status: 'unavailable', what: 'provider' } }, context), { status: 'unavailable', why: /identity provider/ })
})

t.test('each refusal says why, with the values that explain it', async (t) => {
  t.match(credentialReason(rejected('ERR_TOKEN_EXPIRED', { ...GOOD, exp: now - 90 }), context), { code: 'ERR_TOKEN_EXPIRED', why: `expired at ${new Date((now - 90) * 1000).toISOString()} (90 s ago; JWT_CLOCK_SKEW_SECONDS allows 30 s)` })
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, aud: 'other' })), `audience other, but ${ISSUER} tokens must be for one of kubeflow-oidc-authservice`)
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, iss: 'https://extra.example', aud: ['a', 'b'] })), 'audience ["a","b"], but https://extra.example tokens must be for one of extra-aud')
  t.match(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, iss: 'https://bare.example', aud: 'x' })), 'one of istio-ingressgateway.istio-system.svc.cluster.local')
  t.match(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, iss: 'https://kubernetes.default.svc.cluster.local', aud: undefined })), 'audience none, but https://kubernetes.default.svc.cluster.local tokens must be for one of authservice')
  t.match(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, iss: 'https://unknown.example', aud: 5 })), 'must be for one of ')
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, exp: 'soon' })), 'the token has no valid exp')
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, nbf: now + 3600 })), `not valid before ${new Date((now + 3600) * 1000).toISOString()}`)
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, nbf: 'later' })), 'not valid before later (not a time)')
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, nbf: now - 10, sub: '' })), 'the token has no subject (sub)')
  t.match(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, iat: now + 3600 })), 'missing or in the future')
  t.match(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, sub: 5 })), 'no subject')
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, azp: 'peer' })), 'authorized party (azp) peer is another client than kubeflow-oidc-authservice')
  t.equal(why(rejected('ERR_TOKEN_CLAIM_INVALID', { ...GOOD, aud: ['kubeflow-oidc-authservice', 'x'] })), 'authorized party (azp) none is another client than kubeflow-oidc-authservice')
  t.equal(why(rejected('ERR_TOKEN_UNKNOWN_KEY', GOOD)), `unknown key id k1: ${ISSUER} publishes no such key at ${ISSUER}/keys (signed by another provider, or a key it has withdrawn)`)
  t.equal(why(rejected('ERR_TOKEN_UNKNOWN_KEY', GOOD), { ...context, jwksUri: undefined }), `unknown key id k1: ${ISSUER} publishes no such key (signed by another provider, or a key it has withdrawn)`)
  t.match(why(rejected('ERR_TOKEN_UNKNOWN_KEY', { ...GOOD, iss: 'https://extra.example' })), /https:\/\/extra.example publishes no such key \(/)
  t.equal(why(rejected('ERR_TOKEN_UNKNOWN_KEY', GOOD, { alg: 'RS256' })), 'the token names no key id (kid)')
  t.equal(why(rejected('ERR_TOKEN_UNKNOWN_KEY', GOOD, { alg: 'RS256', kid: '' })), 'the token names no key id (kid)')
  t.match(why(rejected('ERR_TOKEN_SIGNATURE_INVALID', GOOD)), `signature does not verify with key k1 of ${ISSUER}`)
  t.match(why(rejected('ERR_TOKEN_SIGNATURE_INVALID')), 'signature does not verify with key none of none')
  t.equal(
    why(rejected('ERR_TOKEN_UNKNOWN_ISSUER', { ...GOOD, iss: 'https://accounts.example.net' })),
    `issuer https://accounts.example.net is not configured; trusted: ${ISSUER} (OIDC_PROVIDER), https://extra.example (EXTRA_JWT_ISSUERS), https://bare.example (EXTRA_JWT_ISSUERS), https://kubernetes.default.svc.cluster.local (KUBERNETES_TOKEN_ISSUER)`,
  )
  t.match(why(rejected('ERR_TOKEN_UNKNOWN_ISSUER', { sub: 'x' }), { ...context, config: kubeflowConfig() }), `issuer none is not configured; trusted: ${ISSUER} (OIDC_PROVIDER)`)
  t.equal(why(rejected('ERR_TOKEN_ALG_NOT_ALLOWED', GOOD, { alg: 'HS256' })), 'algorithm HS256 is not in JWT_ALGORITHMS (RS256)')
  t.equal(why(rejected('ERR_TOKEN_ALG_NOT_ALLOWED', GOOD, {})), 'algorithm none is not in JWT_ALGORITHMS (RS256)')
  t.equal(why(rejected('ERR_TOKEN_TOO_LARGE')), 'longer than MAX_TOKEN_BYTES (16384)')
  t.match(why(rejected('ERR_TOKEN_MALFORMED')), 'not a signed JWT')
  t.match(why(rejected('ERR_TOKEN_MALFORMED', GOOD)), 'critical header extensions')
  t.match(why(rejected('ERR_TOKEN_EMAIL_UNVERIFIED', GOOD)), 'REQUIRE_EMAIL_VERIFIED')
  t.equal(why(rejected('ERR_IDENTITY_CLAIM_MISSING', GOOD)), 'the claim USERID_CLAIM names (email) is missing')
  t.match(why(rejected('ERR_TOKEN_REVIEW_REFUSED', GOOD)), 'TokenReview refused')
  t.match(why(rejected('ERR_CLAIM_HEADER_UNSAFE', GOOD)), 'control character')
  t.match(why(rejected('ERR_IDENTITY_SERVICE_ACCOUNT', GOOD)), 'only the Kubernetes source (KUBERNETES_TOKENS)')
  t.match(why(rejected('ERR_SESSION_INVALID')), 'no session for this ticket')
  t.match(why(rejected('ERR_REFRESH_REJECTED')), 'refused its refresh token')
  t.equal(why(rejected('ERR_SESSION_TOO_LARGE')), 'ERR_SESSION_TOO_LARGE', 'any other code is named')
})

t.test('where each source finds its credential', async (t) => {
  t.equal(whereFound('authorization'), 'Authorization: Bearer')
  t.equal(whereFound('session-cookie'), 'the session cookie')
  t.equal(whereFound('something-else'), 'something-else')
})
