/** Session keys: HKDF-SHA256 per secret and purpose, short kids, the first seals and all unseal. */
import { createDecipheriv, createHash, hkdfSync } from 'node:crypto'
import t from 'tap'
import { deriveKeys } from '../../../src/session/keys.js'

const secretA = new Uint8Array(32).fill(1)
const secretB = new Uint8Array(48).fill(2)

/** The derivation as specified, computed here independently: what every replica must agree on. */
function expectedKey(secret: Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'authservice', `authservice/${purpose}/v1`, 32))
}
const kidOf = (key: Buffer) => createHash('sha256').update(key).digest('base64url').slice(0, 8)

/** Proves which raw key a (non-extractable) CryptoKey holds: encrypt with it, decrypt with the raw key. */
async function holds(key: CryptoKey, raw: Buffer): Promise<boolean> {
  const iv = new Uint8Array(12).fill(7)
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode('probe')))
  const decipher = createDecipheriv('aes-256-gcm', raw, iv)
  decipher.setAuthTag(sealed.subarray(-16))
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, -16)), decipher.final()]).toString() === 'probe'
  } catch {
    return false
  }
}

t.test('each secret goes through HKDF-SHA256 to an AES-256 key with an 8-character kid', async (t) => {
  const ring = deriveKeys({ sessionSecrets: [secretA, secretB], clientSecret: 'ignored' }, 'session')
  const [a, b] = [expectedKey(secretA, 'session'), expectedKey(secretB, 'session')]
  t.equal(ring.current.kid, kidOf(a), 'the first secret seals')
  t.match(ring.current.kid, /^[A-Za-z0-9_-]{8}$/)
  t.strictSame([...ring.all.keys()], [kidOf(a), kidOf(b)], 'every secret unseals, in order')
  t.equal(ring.all.get(kidOf(a)), ring.current)
  t.ok(await holds(await ring.current.key, a), 'the current key is HKDF(first secret)')
  t.ok(await holds(await ring.all.get(kidOf(b))!.key, b), 'the second key is HKDF(second secret)')
  t.notOk(await holds(await ring.current.key, b))
  const key = await ring.current.key
  t.equal(key.extractable, false, 'the key material cannot be exported')
  t.strictSame(key.algorithm, { name: 'AES-GCM', length: 256 })
  t.strictSame([...key.usages].sort(), ['decrypt', 'encrypt'])
})

t.test('without SESSION_SECRETS, the keys come from CLIENT_SECRET (every replica agrees)', async (t) => {
  const one = deriveKeys({ sessionSecrets: [], clientSecret: 'kubeflow-client-secret' }, 'session')
  const two = deriveKeys({ sessionSecrets: [], clientSecret: 'kubeflow-client-secret' }, 'session')
  const raw = expectedKey(new TextEncoder().encode('kubeflow-client-secret'), 'session')
  t.equal(one.current.kid, kidOf(raw))
  t.equal(two.current.kid, one.current.kid, 'a second replica derives the same key')
  t.ok(await holds(await two.current.key, raw))
  t.equal(one.all.size, 1)
  t.not(deriveKeys({ sessionSecrets: [], clientSecret: 'another' }, 'session').current.kid, one.current.kid)
  t.not(deriveKeys({ sessionSecrets: [secretA], clientSecret: 'kubeflow-client-secret' }, 'session').current.kid, one.current.kid,
    'SESSION_SECRETS, when set, replace CLIENT_SECRET')
})

t.test('each purpose gets its own key from the same secret', async (t) => {
  const input = { sessionSecrets: [secretA], clientSecret: '' }
  const session = deriveKeys(input, 'session')
  const loginFlow = deriveKeys(input, 'login-flow')
  t.not(loginFlow.current.kid, session.current.kid)
  t.ok(await holds(await loginFlow.current.key, expectedKey(secretA, 'login-flow')))
})

t.test('a secret given twice is one key', async (t) => {
  const ring = deriveKeys({ sessionSecrets: [secretA, secretB, secretA], clientSecret: '' }, 'session')
  t.equal(ring.all.size, 2)
  t.equal(ring.current.kid, kidOf(expectedKey(secretA, 'session')))
})

t.test('no secret at all is refused, never an empty key', async (t) => {
  t.throws(() => deriveKeys({ sessionSecrets: [], clientSecret: '' }, 'session'), {
    code: 'ERR_CONFIG_INVALID',
    problems: ['SESSION_SECRETS: required when CLIENT_SECRET is empty'],
  })
  t.throws(() => deriveKeys({ sessionSecrets: [secretA, new Uint8Array(0)], clientSecret: 'x' }, 'login-flow'), {
    code: 'ERR_CONFIG_INVALID',
  })
})

t.test('a key ring prints no key material', async (t) => {
  const ring = deriveKeys({ sessionSecrets: [secretA], clientSecret: '' }, 'session')
  const printed = JSON.stringify(ring) + String(await ring.current.key)
  t.notMatch(printed, expectedKey(secretA, 'session').toString('base64'))
  t.notMatch(printed, expectedKey(secretA, 'session').toString('hex'))
})
