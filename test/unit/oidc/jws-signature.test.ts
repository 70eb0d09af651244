/** JWS signatures checked with node:crypto: the right key kind, curve and size per algorithm (RFC 7518 §3), forged or malformed signatures invalid. */
import { generateKeyPairSync, KeyObject } from 'node:crypto'
import t from 'tap'
import { hasValidSignature, keyFitsAlgorithm } from '../../../src/oidc/jws-signature.js'
import { createTestKey, signCompact, type KeyAlgorithm } from '../../helpers/test-issuer.js'

const ALGORITHMS: KeyAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

t.test('each algorithm accepts its own signature and refuses another key, a changed payload and a malformed signature', async (t) => {
  for (const alg of ALGORITHMS) {
    const key = await createTestKey(alg)
    const other = await createTestKey(alg)
    const publicKey = KeyObject.from(key.publicKey)
    const token = await signCompact({ alg, kid: key.kid }, { sub: 'alice' }, key)
    const [header, , signature] = token.split('.')
    t.ok(await hasValidSignature(token, alg, publicKey), `${alg}: valid`)
    t.notOk(await hasValidSignature(await signCompact({ alg, kid: key.kid }, { sub: 'alice' }, other), alg, publicKey), `${alg}: another key`)
    t.notOk(await hasValidSignature(`${header}.${Buffer.from('{"sub":"admin"}').toString('base64url')}.${signature}`, alg, publicKey), `${alg}: changed payload`)
    t.notOk(await hasValidSignature(`${header}.e30.AAAA`, alg, publicKey), `${alg}: a short signature`)
    t.notOk(await hasValidSignature(`${header}.e30.`, alg, publicKey), `${alg}: an empty signature`)
  }
})

t.test('a signature is only checked for a known algorithm', async (t) => {
  const key = await createTestKey('RS256')
  const token = await signCompact({ alg: 'RS256', kid: key.kid }, { sub: 'alice' }, key)
  t.notOk(await hasValidSignature(token, 'HS256', KeyObject.from(key.publicKey)), 'HS256 is never an option')
  t.notOk(await hasValidSignature(token, 'none', KeyObject.from(key.publicKey)), 'nor none')
  t.notOk(await hasValidSignature('no-dots-at-all', 'RS256', KeyObject.from(key.publicKey)), 'nor a value without a signature part')
})

t.test('a key fits an algorithm only with the right kind, curve and size', async (t) => {
  const rsa = KeyObject.from((await createTestKey('RS256')).publicKey)
  const p256 = KeyObject.from((await createTestKey('ES256')).publicKey)
  const p384 = KeyObject.from((await createTestKey('ES384')).publicKey)
  const ed25519 = KeyObject.from((await createTestKey('EdDSA')).publicKey)
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey
  const rsaPrivate = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const fits: Array<[string, KeyObject, string, boolean]> = [
    ['RSA 2048', rsa, 'RS256', true],
    ['RSA 2048', rsa, 'PS512', true],
    ['RSA-PSS 2048', pss, 'PS256', true],
    ['RSA-PSS 2048', pss, 'RS256', false],
    ['RSA 1024 (RFC 7518 §3.3: at least 2048 bits)', rsa1024, 'RS256', false],
    ['RSA 1024', rsa1024, 'PS256', false],
    ['an RSA private key', rsaPrivate, 'RS256', false],
    ['RSA', rsa, 'ES256', false],
    ['P-256', p256, 'ES256', true],
    ['P-256', p256, 'ES384', false],
    ['P-384', p384, 'ES384', true],
    ['P-256', p256, 'RS256', false],
    ['Ed25519', ed25519, 'EdDSA', true],
    ['Ed25519', ed25519, 'ES256', false],
    ['RSA', rsa, 'EdDSA', false],
    ['RSA', rsa, 'HS256', false],
  ]
  for (const [name, key, alg, expected] of fits) t.equal(keyFitsAlgorithm(key, alg), expected, `${name} ${expected ? 'fits' : 'does not fit'} ${alg}`)
})
