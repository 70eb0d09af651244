/** Bearer JWT verification: cheap shape checks before any cryptography, then signature and claims (RFC 8725, OIDC Core §3.1.3.7). */
import { KeyObject } from 'node:crypto'
import t from 'tap'
import { ProviderUnavailableError, TokenRejectedError } from '../../../src/errors.js'
import type { Issuer } from '../../../src/oidc/issuer.js'
import type { VerificationKey } from '../../../src/oidc/key-set.js'
import { createTokenVerifier, verifyToken, type TokenVerifierOptions, type TrustedIssuer } from '../../../src/oidc/token-verifier.js'
import { corruptSignature, createTestKey, KUBEFLOW_CLIENT_ID, signCompact, type Claims, type TestKey } from '../../helpers/test-issuer.js'

const DEX = 'http://dex.auth.svc.cluster.local:5556/dex'
const KUBERNETES = 'https://kubernetes.default.svc.cluster.local'
const NOW_MS = 1_750_000_000_000
const NOW = NOW_MS / 1000
const SKEW = 30

let dexKey: TestKey
let dexKey2: TestKey
let k8sKey: TestKey
let foreign: TestKey
let ecKey: TestKey
t.before(async () => {
  ;[dexKey, dexKey2, k8sKey, foreign, ecKey] = await Promise.all([
    createTestKey('RS256'),
    createTestKey('RS256'),
    createTestKey('RS256'),
    createTestKey('RS256'),
    createTestKey('ES256'),
  ])
})

/** The key as the key set hands it out: a node:crypto KeyObject. */
const publicKeyOf = (key: TestKey): VerificationKey => KeyObject.from(key.publicKey)

/** An Issuer whose keys are a fixed map; records each lookup (and each recheck, which finds nothing new). */
function fakeIssuer(issuer: string, keys: () => Record<string, VerificationKey>, lookups: string[]): Issuer {
  return {
    issuer,
    isReady: () => true,
    metadata: () => ({ issuer, jwks_uri: `${issuer}/keys` }),
    start: async () => undefined,
    close: () => undefined,
    keys: {
      hasKeys: () => true,
      // As a key set whose rate limit lets an unknown kid through to keyFor (which refuses it here).
      refusesNow: () => false,
      refresh: async () => undefined,
      observe: () => undefined,
      async keyFor(kid, alg, refetch = 'rate-limited') {
        lookups.push(refetch === 'rate-limited' ? `${kid}/${alg}` : `${kid}/${alg}/${refetch}`)
        const key = keys()[kid]
        if (!key) throw new TokenRejectedError('ERR_TOKEN_UNKNOWN_KEY', 'token signed by an unknown key')
        return key
      },
      async recheck(kid, alg, refetch = 'rate-limited') {
        lookups.push(`recheck ${kid}/${alg}/${refetch}`)
        return undefined
      },
    },
  }
}

function setup(options: Partial<TokenVerifierOptions> = {}, dexKeys?: () => Record<string, VerificationKey>) {
  const lookups: string[] = []
  const issuers: TrustedIssuer[] = [
    {
      issuer: fakeIssuer(DEX, dexKeys ?? (() => ({ [dexKey.kid]: publicKeyOf(dexKey), [dexKey2.kid]: publicKeyOf(dexKey2), [ecKey.kid]: publicKeyOf(ecKey) })), lookups),
      audience: KUBEFLOW_CLIENT_ID,
      primary: true,
    },
    // An EXTRA_JWT_ISSUERS entry without `=audience` trusts every AUDIENCES value.
    { issuer: fakeIssuer(KUBERNETES, () => ({ [k8sKey.kid]: publicKeyOf(k8sKey) }), lookups), audience: ['istio-ca', 'pipelines.kubeflow.org'], primary: false },
  ]
  const verifier = createTokenVerifier({
    issuers,
    algorithms: ['RS256'],
    clockSkewSeconds: SKEW,
    maxTokenBytes: 16_384,
    clock: { now: () => NOW_MS },
    ...options,
  })
  return { verifier, lookups }
}

const dexClaims = (overrides: Claims = {}): Claims => ({
  iss: DEX,
  sub: 'Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw',
  aud: KUBEFLOW_CLIENT_ID,
  exp: NOW + 600,
  iat: NOW,
  email: 'user@example.com',
  email_verified: true,
  ...overrides,
})

/** A Dex-shaped token: {"alg":"RS256","kid":…}, no typ. */
const dexToken = (overrides: Claims = {}, header: Record<string, unknown> = {}, key: TestKey = dexKey) =>
  signCompact({ alg: 'RS256', kid: key.kid, ...header }, dexClaims(overrides), key)

const b64 = (text: string) => Buffer.from(text).toString('base64url')

t.test('accepts a valid Dex token and returns its claims, issuer and expiry', async (t) => {
  const { verifier, lookups } = setup()
  const token = await dexToken({ groups: ['a'] })
  const verified = await verifyToken(verifier, token)
  t.equal(verified.token, token)
  t.equal(verified.issuer, DEX)
  t.equal(verified.primary, true)
  t.equal(verified.expiresAtMs, (NOW + 600) * 1000)
  t.equal(verified.kid, dexKey.kid, 'and the kid of the key that verified it')
  t.match(verified.claims, { sub: 'Cg4xNTg0MTE4NTY0MTc4NBIFbG9jYWw', email: 'user@example.com', groups: ['a'] })
  t.same(lookups, [`${dexKey.kid}/RS256`], 'the key is looked up by the header kid and alg')
})

t.test('accepts a token of an extra issuer for its own audience, marked not primary', async (t) => {
  const { verifier } = setup()
  const token = await signCompact(
    { alg: 'RS256', kid: k8sKey.kid },
    { iss: KUBERNETES, sub: 'system:serviceaccount:kubeflow:pipeline-runner', aud: ['istio-ca'], exp: NOW + 60, iat: NOW },
    k8sKey,
  )
  const verified = await verifyToken(verifier, token)
  t.equal(verified.issuer, KUBERNETES)
  t.equal(verified.primary, false)
  t.equal(verified.expiresAtMs, (NOW + 60) * 1000)
})

t.test('an issuer trusted for several audiences accepts any one of them, and azp naming any of them', async (t) => {
  const { verifier } = setup()
  const k8sToken = (claims: Claims) =>
    signCompact({ alg: 'RS256', kid: k8sKey.kid }, { iss: KUBERNETES, sub: 'system:serviceaccount:kubeflow:runner', exp: NOW + 60, iat: NOW, ...claims }, k8sKey)
  t.ok(await verifyToken(verifier, await k8sToken({ aud: 'pipelines.kubeflow.org' })), 'the second audience as a string')
  t.ok(await verifyToken(verifier, await k8sToken({ aud: ['other', 'istio-ca'], azp: 'istio-ca' })), 'several audiences, azp ours')
  t.ok(await verifyToken(verifier, await k8sToken({ aud: ['istio-ca', 'pipelines.kubeflow.org'], azp: 'pipelines.kubeflow.org' })))
  await t.rejects(verifyToken(verifier, await k8sToken({ aud: 'other' })), { code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' })
  await t.rejects(verifyToken(verifier, await k8sToken({ aud: ['other', 'istio-ca'], azp: 'other' })), { code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'azp' })
  await t.rejects(verifyToken(verifier, await k8sToken({ aud: KUBEFLOW_CLIENT_ID })), { code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' }, 'the primary audience is not an extra issuer\'s')
})

t.test('accepts another algorithm only when it is on the allowlist', async (t) => {
  const token = await dexToken({}, { alg: 'ES256', kid: ecKey.kid }, ecKey)
  await t.rejects(verifyToken(setup().verifier, token), { code: 'ERR_TOKEN_ALG_NOT_ALLOWED' }, 'RS256 only by default')
  const { verifier } = setup({ algorithms: ['RS256', 'ES256'] })
  t.equal((await verifyToken(verifier, token)).issuer, DEX)
})

t.test('the clock skew tolerates exp, nbf and iat up to JWT_CLOCK_SKEW_SECONDS off', async (t) => {
  const { verifier } = setup()
  t.ok(await verifyToken(verifier, await dexToken({ exp: NOW - SKEW + 1 })), 'expired within the skew')
  t.ok(await verifyToken(verifier, await dexToken({ nbf: NOW + SKEW })), 'not yet valid within the skew')
  t.ok(await verifyToken(verifier, await dexToken({ iat: NOW + SKEW })), 'issued in the future within the skew')
})

t.test('accepts azp when it names us, with one audience or several', async (t) => {
  const { verifier } = setup()
  t.ok(await verifyToken(verifier, await dexToken({ azp: KUBEFLOW_CLIENT_ID })))
  t.ok(await verifyToken(verifier, await dexToken({ aud: ['peer-client', KUBEFLOW_CLIENT_ID], azp: KUBEFLOW_CLIENT_ID })))
  t.ok(await verifyToken(verifier, await dexToken({ aud: [KUBEFLOW_CLIENT_ID] })), 'an array of only us needs no azp')
})

interface Refusal {
  name: string
  token: () => Promise<string> | string
  code: string
  claim?: string
  /** Whether the refusal happens before any key lookup (cheap checks). */
  beforeKeys?: boolean
}

t.test('refuses', async (t) => {
  const refusals: Refusal[] = [
    { name: 'a token longer than maxTokenBytes', token: () => dexToken({ padding: 'x'.repeat(16_384) }), code: 'ERR_TOKEN_TOO_LARGE', beforeKeys: true },
    { name: 'a random string', token: () => 'not-a-jwt', code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'two parts', token: () => `${b64('{"alg":"RS256"}')}.${b64('{}')}`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'an unsigned token (alg none, empty signature)', token: () => signCompact({ alg: 'none' }, dexClaims(), 'none'), code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a JWE-shaped five-part token', token: () => `${b64('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.a.b.c.d`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'characters outside base64url', token: async () => `${await dexToken()}=`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header outside base64url (standard base64 +)', token: async () => `+${await dexToken()}`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'claims outside base64url', token: async () => (await dexToken()).replace('.', '.+'), code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is not JSON', token: () => `${b64('{alg:RS256')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'three parts that decode to nothing JSON (x.y.z)', token: () => 'x.y.z', code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header in braces that is still not JSON', token: () => `${b64('{"alg":}')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is only braces', token: () => `${b64('}{')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is a JSON number', token: () => `${b64('42')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is JSON null', token: () => `${b64('null')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is a JSON array', token: () => `${b64('["RS256"]')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header without alg', token: () => dexToken({}, { alg: undefined }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'a non-string alg', token: () => dexToken({}, { alg: ['RS256'] }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'alg none with a signature', token: () => dexToken({}, { alg: 'none' }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'HS256 keyed with the client secret', token: () => signCompact({ alg: 'HS256', kid: dexKey.kid }, dexClaims(), { hmac: 'test-client-secret' }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'HS256 keyed with the RSA public key (key confusion)', token: () => signCompact({ alg: 'HS256', kid: dexKey.kid }, dexClaims(), { hmac: dexKey.publicPem }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'an algorithm name in another case', token: () => dexToken({}, { alg: 'rs256' }), code: 'ERR_TOKEN_ALG_NOT_ALLOWED', beforeKeys: true },
    { name: 'a crit header', token: () => dexToken({}, { crit: ['exp'], exp: NOW + 600 }), code: 'ERR_TOKEN_MALFORMED', claim: 'crit', beforeKeys: true },
    { name: 'an empty crit list', token: () => dexToken({}, { crit: [] }), code: 'ERR_TOKEN_MALFORMED', claim: 'crit', beforeKeys: true },
    { name: 'a token without kid', token: () => dexToken({}, { kid: undefined }), code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid', beforeKeys: true },
    { name: 'an empty kid', token: () => dexToken({}, { kid: '' }), code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid', beforeKeys: true },
    { name: 'a numeric kid', token: () => dexToken({}, { kid: 1 }), code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid', beforeKeys: true },
    { name: 'a payload that is not JSON', token: () => `${b64(`{"alg":"RS256","kid":"${dexKey.kid}"}`)}.${b64('{"iss":')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a payload that is a JSON string', token: () => `${b64(`{"alg":"RS256","kid":"${dexKey.kid}"}`)}.${b64('"claims"')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header that is not UTF-8 (as jose decodes it)', token: () => `${Buffer.concat([Buffer.from(`{"alg":"RS256","kid":"${dexKey.kid}","x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]).toString('base64url')}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a header behind a byte-order mark', token: () => `${b64(`\ufeff{"alg":"RS256","kid":"${dexKey.kid}"}`)}.${b64('{}')}.sig`, code: 'ERR_TOKEN_MALFORMED', beforeKeys: true },
    { name: 'a token without iss', token: () => dexToken({ iss: undefined }), code: 'ERR_TOKEN_UNKNOWN_ISSUER', claim: 'iss', beforeKeys: true },
    { name: 'a non-string iss', token: () => dexToken({ iss: [DEX] }), code: 'ERR_TOKEN_UNKNOWN_ISSUER', claim: 'iss', beforeKeys: true },
    { name: 'an untrusted iss', token: () => dexToken({ iss: 'https://evil.example/dex' }), code: 'ERR_TOKEN_UNKNOWN_ISSUER', claim: 'iss', beforeKeys: true },
    { name: 'iss with a trailing slash', token: () => dexToken({ iss: `${DEX}/` }), code: 'ERR_TOKEN_UNKNOWN_ISSUER', claim: 'iss', beforeKeys: true },
    { name: 'an unknown kid', token: () => dexToken({}, { kid: 'f'.repeat(40) }), code: 'ERR_TOKEN_UNKNOWN_KEY' },
    { name: 'a path-like kid', token: () => dexToken({}, { kid: '../../keys' }), code: 'ERR_TOKEN_UNKNOWN_KEY' },
    { name: 'a signature changed in its last character', token: async () => corruptSignature(await dexToken()), code: 'ERR_TOKEN_SIGNATURE_INVALID' },
    {
      name: 'the signature of another token',
      token: async () => {
        const [header, payload] = (await dexToken({ email: 'admin@example.com' })).split('.')
        return `${header}.${payload}.${(await dexToken()).split('.')[2]}`
      },
      code: 'ERR_TOKEN_SIGNATURE_INVALID',
    },
    { name: 'a foreign key under our kid', token: () => dexToken({}, { kid: dexKey.kid }, foreign), code: 'ERR_TOKEN_SIGNATURE_INVALID' },
    { name: 'an embedded jwk of the signing (attacker) key', token: () => dexToken({}, { kid: dexKey.kid, jwk: foreign.publicJwk }, foreign), code: 'ERR_TOKEN_SIGNATURE_INVALID' },
    { name: 'a jku pointing at the attacker', token: () => dexToken({}, { kid: dexKey.kid, jku: 'https://evil.example/keys' }, foreign), code: 'ERR_TOKEN_SIGNATURE_INVALID' },
    { name: 'the signature of another of our keys', token: () => dexToken({}, { kid: dexKey.kid }, dexKey2), code: 'ERR_TOKEN_SIGNATURE_INVALID' },
    { name: 'a token expired beyond the skew', token: () => dexToken({ exp: NOW - SKEW }), code: 'ERR_TOKEN_EXPIRED', claim: 'exp' },
    { name: 'a token without exp', token: () => dexToken({ exp: undefined }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'exp' },
    { name: 'a non-numeric exp', token: () => dexToken({ exp: String(NOW + 600) }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'exp' },
    { name: 'nbf in the future beyond the skew', token: () => dexToken({ nbf: NOW + SKEW + 1 }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'nbf' },
    { name: 'a token without iat', token: () => dexToken({ iat: undefined }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'iat' },
    { name: 'iat in the future beyond the skew', token: () => dexToken({ iat: NOW + SKEW + 1 }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'iat' },
    { name: 'a token without sub', token: () => dexToken({ sub: undefined }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'sub' },
    { name: 'an empty sub', token: () => dexToken({ sub: '' }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'sub' },
    { name: 'a non-string sub', token: () => dexToken({ sub: 42 }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'sub' },
    { name: 'a token without aud', token: () => dexToken({ aud: undefined }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' },
    { name: 'a token for another client', token: () => dexToken({ aud: 'other-client' }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' },
    { name: 'several audiences without us', token: () => dexToken({ aud: ['a', 'b'], azp: 'a' }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' },
    { name: 'an extra issuer token for the primary audience', token: () => signCompact({ alg: 'RS256', kid: k8sKey.kid }, { iss: KUBERNETES, sub: 'system:serviceaccount:a:b', aud: KUBEFLOW_CLIENT_ID, exp: NOW + 60, iat: NOW }, k8sKey), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'aud' },
    { name: 'several audiences including us without azp', token: () => dexToken({ aud: ['peer-client', KUBEFLOW_CLIENT_ID] }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'azp' },
    { name: 'several audiences including us with azp another client', token: () => dexToken({ aud: ['peer-client', KUBEFLOW_CLIENT_ID], azp: 'peer-client' }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'azp' },
    { name: 'our audience with azp another client', token: () => dexToken({ azp: 'peer-client' }), code: 'ERR_TOKEN_CLAIM_INVALID', claim: 'azp' },
    { name: 'an RS256 token whose kid names an EC key', token: () => dexToken({}, { kid: ecKey.kid }), code: 'ERR_TOKEN_MALFORMED' },
  ]
  for (const refusal of refusals) {
    const { verifier, lookups } = setup()
    const error = await verifyToken(verifier, await refusal.token()).then(
      () => undefined,
      (caught: unknown) => caught,
    )
    t.type(error, TokenRejectedError, `${refusal.name}: refused`)
    t.match(error, { code: refusal.code, claim: refusal.claim }, `${refusal.name}: ${refusal.code}`)
    if (refusal.beforeKeys) t.same(lookups, [], `${refusal.name}: refused before any key lookup`)
  }
})

t.test('a header with JSON whitespace around its object is accepted, as jose accepts it (RFC 8259 §2)', async (t) => {
  const { verifier } = setup()
  const header = b64(`\n\t {"alg":"RS256","kid":"${dexKey.kid}"} \r\n`)
  const input = `${header}.${b64(JSON.stringify(dexClaims()))}`
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', dexKey.privateKey, Buffer.from(input))
  t.equal((await verifyToken(verifier, `${input}.${Buffer.from(signature).toString('base64url')}`)).claims.sub, dexClaims().sub)
})

t.test('counts: a valid token costs one key lookup and one signature; junk costs neither', async (t) => {
  const counts = { keyLookups: 0, signatureChecks: 0 }
  const { verifier } = setup({ counts })
  await verifyToken(verifier, await dexToken())
  t.same(counts, { keyLookups: 1, signatureChecks: 1 }, 'the valid token')
  for (const junk of ['Zm9v', 'x.y.z', (await dexToken()).replace(/[^.]+$/, ''), await signCompact({ alg: 'HS256', kid: dexKey.kid }, dexClaims(), { hmac: 'guess' })]) {
    // The refusal is the answer, not a rejected promise (issue #17: a rejection through each async layer cost junk more than a valid token).
    t.type(await verifier.check(junk), TokenRejectedError, `${junk.slice(0, 12)}… is answered with its refusal`)
  }
  t.same(counts, { keyLookups: 1, signatureChecks: 1 }, 'no junk reached a key or a signature')
  await t.rejects(verifyToken(verifier, corruptSignature(await dexToken())), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  t.same(counts, { keyLookups: 2, signatureChecks: 2 }, 'a forged signature under a known kid is checked (the only way to know)')
})

t.test('a kid that no issuer publishes, when none may refetch now, is refused before its claims are read', async (t) => {
  const { createKeySet } = await import('../../../src/oidc/key-set.js')
  let fetches = 0
  let now = NOW_MS
  const clock = { now: () => now }
  const keys = createKeySet({
    jwksUri: () => `${DEX}/keys`,
    clock,
    fetch: async () => {
      fetches++
      return new Response(JSON.stringify({ keys: [dexKey.publicJwk] }))
    },
  })
  await keys.refresh()
  const counts = { keyLookups: 0, signatureChecks: 0 }
  const verifier = createTokenVerifier({
    issuers: [{ issuer: { ...fakeIssuer(DEX, () => ({}), []), keys }, audience: KUBEFLOW_CLIENT_ID, primary: true }],
    algorithms: ['RS256'],
    clockSkewSeconds: SKEW,
    maxTokenBytes: 16_384,
    clock,
    counts,
  })
  const unknownKid = await dexToken({}, { kid: 'f'.repeat(40) }, foreign)
  // Even with claims no issuer would take: the kid alone decides, and costs no decoding of them.
  const unknownKidForeignIssuer = await dexToken({ iss: 'https://evil.example' }, { kid: 'f'.repeat(40) }, foreign)
  await t.rejects(verifyToken(verifier, unknownKid), { code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid' })
  await t.rejects(verifyToken(verifier, unknownKidForeignIssuer), { code: 'ERR_TOKEN_UNKNOWN_KEY', claim: 'kid' })
  t.same({ fetches, ...counts }, { fetches: 1, keyLookups: 0, signatureChecks: 0 }, 'within the refetch interval: no fetch, no lookup, no signature')
  now += 5_000
  await t.rejects(verifyToken(verifier, unknownKid), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.same({ fetches, ...counts }, { fetches: 2, keyLookups: 0, signatureChecks: 0 }, 'once it has passed: the one refetch the rules allow, then refused')
})

t.test('a token of exactly maxTokenBytes is not too large', async (t) => {
  const token = await dexToken()
  const { verifier } = setup({ maxTokenBytes: token.length })
  t.ok(await verifyToken(verifier, token))
  await t.rejects(verifyToken(setup({ maxTokenBytes: token.length - 1 }).verifier, token), { code: 'ERR_TOKEN_TOO_LARGE' })
})

t.test('a header kid is only ever a lookup key', async (t) => {
  const { verifier, lookups } = setup()
  const kid = "x' OR '1'='1"
  await t.rejects(verifyToken(verifier, await dexToken({}, { kid })), { code: 'ERR_TOKEN_UNKNOWN_KEY' })
  t.same(lookups, [`${kid}/RS256`])
})

t.test('an unavailable key set is reported as such, not as a bad token', async (t) => {
  const { verifier } = setup({}, () => {
    throw new ProviderUnavailableError()
  })
  await t.rejects(verifyToken(verifier, await dexToken()), ProviderUnavailableError)
})

t.test('a key that does not fit the token algorithm is never used, whatever the key set hands out', async (t) => {
  // RS256 header and a valid RS256 signature, but the kid resolves to a key of another kind.
  const token = await dexToken()
  const weak = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  const cases: Array<[string, VerificationKey]> = [
    ['an EC key', publicKeyOf(ecKey)],
    ['an RSA key under 2048 bits (RFC 7518 §3.3)', weak],
    ['a private key', KeyObject.from(dexKey.privateKey)],
  ]
  for (const [name, key] of cases) {
    const { verifier } = setup({}, () => ({ [dexKey.kid]: key }))
    await t.rejects(verifyToken(verifier, token), { code: 'ERR_TOKEN_MALFORMED' }, name)
  }
})

t.test('every asymmetric JWS algorithm verifies with its own key and refuses a forged signature', async (t) => {
  const algs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const
  for (const alg of algs) {
    const key = await createTestKey(alg)
    const other = await createTestKey(alg)
    const { verifier } = setup({ algorithms: [alg] }, () => ({ [key.kid]: publicKeyOf(key) }))
    const token = await dexToken({}, { alg, kid: key.kid }, key)
    t.equal((await verifyToken(verifier, token)).claims.sub, dexClaims().sub, `${alg}: accepted`)
    await t.rejects(verifyToken(verifier, await dexToken({}, { alg, kid: key.kid }, other)), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, `${alg}: another key's signature refused`)
    await t.rejects(verifyToken(verifier, `${token.slice(0, token.lastIndexOf('.'))}.AAAA`), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, `${alg}: a short signature refused`)
  }
})

t.test('a payload that is not UTF-8 is refused after the signature, as jose refuses it', async (t) => {
  const header = b64(JSON.stringify({ alg: 'RS256', kid: dexKey.kid }))
  const payload = Buffer.from(JSON.stringify(dexClaims({ name: 'X' })).replace('"X"', '"\u0000"')).map((byte) => (byte === 0 ? 0xff : byte))
  const input = `${header}.${Buffer.from(payload).toString('base64url')}`
  const { sign } = await import('node:crypto')
  const token = `${input}.${sign('sha256', Buffer.from(input), KeyObject.from(dexKey.privateKey)).toString('base64url')}`
  await t.rejects(verifyToken(setup().verifier, token), { code: 'ERR_TOKEN_MALFORMED' })
})

// Issue 15, finding 1: the provider re-keyed under a kid we know. Bearer checks never wait for the
// refetch this provokes (a forged signature could provoke it too); ID tokens from the token endpoint do.
t.test('a signature failing under a known kid asks the key set to recheck that kid', async (t) => {
  const token = await dexToken({}, { kid: dexKey.kid }, dexKey2)
  const bearer = setup()
  await t.rejects(verifyToken(bearer.verifier, token), { code: 'ERR_TOKEN_SIGNATURE_INVALID' })
  t.same(bearer.lookups, [`${dexKey.kid}/RS256`, `recheck ${dexKey.kid}/RS256/rate-limited`], 'bearer: a rate-limited recheck, not awaited')
  const login = setup({ keyRefetch: 'now' })
  await t.rejects(verifyToken(login.verifier, token), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'nothing new under the kid: still refused')
  t.same(login.lookups, [`${dexKey.kid}/RS256/now`, `recheck ${dexKey.kid}/RS256/now`])
})

t.test('against a real key set: bearer checks are refused until the background refetch lands; the login path waits for it', async (t) => {
  const { createKeySet } = await import('../../../src/oidc/key-set.js')
  const rekeyed = await createTestKey('RS256', dexKey.kid)
  let published = [dexKey.publicJwk]
  let fetches = 0
  let now = NOW_MS
  const clock = { now: () => now }
  const issuerWithKeys = (refetch?: 'now') => {
    const keys = createKeySet({
      jwksUri: () => `${DEX}/keys`,
      clock,
      fetch: async () => {
        fetches++
        return new Response(JSON.stringify({ keys: published }))
      },
    })
    const issuer = { ...fakeIssuer(DEX, () => ({}), []), keys }
    const verifier = createTokenVerifier({
      issuers: [{ issuer, audience: KUBEFLOW_CLIENT_ID, primary: true }],
      algorithms: ['RS256'],
      clockSkewSeconds: SKEW,
      maxTokenBytes: 16_384,
      clock,
      ...(refetch ? { keyRefetch: refetch } : {}),
    })
    return { keys, verifier }
  }
  const oldToken = await dexToken()
  const newToken = await dexToken({}, {}, rekeyed)

  const bearer = issuerWithKeys()
  await bearer.keys.refresh()
  t.ok(await verifyToken(bearer.verifier, oldToken), 'a token of the key as first published')
  published = [rekeyed.publicJwk]
  now += 5_000
  await t.rejects(verifyToken(bearer.verifier, newToken), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'bearer: refused at once')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(fetches, 2, 'and the refetch started')
  t.ok(await verifyToken(bearer.verifier, newToken), 'once it landed, the new key verifies')
  await t.rejects(verifyToken(bearer.verifier, oldToken), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'and the withdrawn material no longer does')

  published = [dexKey.publicJwk]
  const login = issuerWithKeys('now')
  await login.keys.refresh()
  published = [rekeyed.publicJwk]
  t.equal((await verifyToken(login.verifier, newToken)).kid, dexKey.kid, 'login path: accepted on the first try, right after a fetch')
  t.equal(fetches, 4)
})

t.test('legacy service-account tokens: no exp, iat or aud, a service-account subject, the signature as any other', async (t) => {
  const lookups: string[] = []
  const verifier = createTokenVerifier({
    issuers: [{ issuer: fakeIssuer('kubernetes/serviceaccount', () => ({ [k8sKey.kid]: publicKeyOf(k8sKey) }), lookups), audience: [], primary: false, legacyServiceAccount: true }],
    algorithms: ['RS256'],
    clockSkewSeconds: SKEW,
    maxTokenBytes: 16_384,
    clock: { now: () => NOW_MS },
  })
  const legacy = (claims: Claims, key: TestKey = k8sKey) =>
    signCompact({ alg: 'RS256', kid: k8sKey.kid }, { iss: 'kubernetes/serviceaccount', sub: 'system:serviceaccount:kubeflow:default-editor', 'kubernetes.io/serviceaccount/namespace': 'kubeflow', ...claims }, key)
  const verified = await verifyToken(verifier, await legacy({}))
  t.equal(verified.issuer, 'kubernetes/serviceaccount')
  t.equal(verified.primary, false)
  t.equal(verified.expiresAtMs, Number.POSITIVE_INFINITY, 'never expires')
  for (const [name, claims, claim] of [
    ['an exp', { exp: NOW + 60 }, 'exp'],
    ['an aud', { aud: 'x' }, 'aud'],
    ['a user subject', { sub: 'alice' }, 'sub'],
    ['no subject', { sub: undefined }, 'sub'],
  ] as const) {
    await t.rejects(verifyToken(verifier, await legacy(claims)), { code: 'ERR_TOKEN_CLAIM_INVALID', claim }, name)
  }
  await t.rejects(verifyToken(verifier, await legacy({}, foreign)), { code: 'ERR_TOKEN_SIGNATURE_INVALID' }, 'a forged signature')
})
