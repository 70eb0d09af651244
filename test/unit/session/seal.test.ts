/** Sealing: compact JWE dir + A256GCM under the ring's first key; unseal refuses anything else, never throws. */
import t from 'tap'
import { CompactEncrypt, decodeProtectedHeader, type CompactJWEHeaderParameters } from 'jose'
import { deriveKeys } from '../../../src/session/keys.js'
import { looksSealed, MAX_SEALED_LENGTH, seal, unseal } from '../../../src/session/seal.js'

const secret = (fill: number) => new Uint8Array(32).fill(fill)
const ring = deriveKeys({ sessionSecrets: [secret(1)], clientSecret: '' }, 'session')
const otherRing = deriveKeys({ sessionSecrets: [secret(2)], clientSecret: '' }, 'session')
const T = 1_750_000_000_000

/** A JWE made directly with jose under the ring's key, for headers and payloads seal() never makes. */
async function craft(header: Partial<CompactJWEHeaderParameters>, payload = '{"a":1}', key?: CryptoKey): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', ...header })
    .encrypt(key ?? (await ring.current.key))
}

t.test('values round-trip through seal and unseal', async (t) => {
  const values = [{ a: 1, nested: { list: [1, 'two', null, true] } }, ['x'], 'text ✓ ünïcode', 0, -1.5, null, false, {}]
  for (const value of values) t.strictSame(await unseal(await seal(value, ring), ring), value, JSON.stringify(value))
})

t.test('the token is a compact JWE with alg dir, enc A256GCM and the kid, nothing else', async (t) => {
  const token = await seal({ a: 1 }, ring)
  t.strictSame(decodeProtectedHeader(token), { alg: 'dir', enc: 'A256GCM', kid: ring.current.kid })
  const parts = token.split('.')
  t.equal(parts.length, 5)
  t.equal(parts[1], '', 'no encrypted key with dir')
  t.equal(parts[2]!.length, 16, '96-bit IV')
  t.equal(parts[4]!.length, 22, '128-bit tag')
  t.ok(looksSealed(token))
  t.not(await seal({ a: 1 }, ring), token, 'a fresh IV every time')
  t.notMatch(token, /"a"/, 'the payload is not readable')
})

t.test('only keys of the ring unseal; a rotated ring still reads the old key', async (t) => {
  const token = await seal({ a: 1 }, ring)
  t.equal(await unseal(token, otherRing), undefined, 'unknown kid')
  const rotated = deriveKeys({ sessionSecrets: [secret(2), secret(1)], clientSecret: '' }, 'session')
  t.strictSame(await unseal(token, rotated), { a: 1 }, 'old key still unseals after rotation')
  t.equal(decodeProtectedHeader(await seal({ a: 1 }, rotated)).kid, otherRing.current.kid, 'the new first key seals')
  const loginFlow = deriveKeys({ sessionSecrets: [secret(1)], clientSecret: '' }, 'login-flow')
  t.equal(await unseal(token, loginFlow), undefined, 'a session value is no login-flow value')
  t.equal(await unseal(await craft({ kid: undefined }), ring), undefined, 'no kid')
  const sameKidWrongKey = await craft({ kid: ring.current.kid }, '{"a":1}', await otherRing.current.key)
  t.equal(await unseal(sameKidWrongKey, ring), undefined, 'a known kid over another key fails authentication')
})

t.test('expiresAtMs puts exp (seconds, rounded down) in the protected header', async (t) => {
  const token = await seal({ a: 1 }, ring, { expiresAtMs: T + 600_999 })
  t.equal(decodeProtectedHeader(token).exp, (T + 600_000) / 1000, 'never outlives expiresAtMs')
  t.strictSame(await unseal(token, ring, { nowMs: T + 599_999 }), { a: 1 })
  t.equal(await unseal(token, ring, { nowMs: T + 600_000 }), undefined, 'refused from exp on')
  t.equal(await unseal(token, ring, { nowMs: T + 10 ** 9 }), undefined)
  t.equal(await unseal(token, ring), undefined, 'the system clock is used without nowMs (long past T)')
  const future = await seal({ a: 1 }, ring, { expiresAtMs: Date.now() + 60_000 })
  t.strictSame(await unseal(future, ring), { a: 1 }, 'and lets a value that has not expired through')
  t.equal(await unseal(await craft({ kid: ring.current.kid, exp: 'never' } as never), ring, { nowMs: T }), undefined,
    'a non-numeric exp is refused')
  t.strictSame(await unseal(await seal({ a: 1 }, ring), ring, { nowMs: T * 1000 }), { a: 1 }, 'no exp: no time limit')
})

t.test('seal refuses values without a JSON form', async (t) => {
  await t.rejects(seal(undefined, ring), TypeError)
  await t.rejects(seal(() => 1, ring), TypeError)
})

t.test('seal makes nothing unseal would refuse for its size', async (t) => {
  // base64url grows by 4/3: the largest payload is about 3/4 of MAX_SEALED_LENGTH, less the header.
  const fits = 'x'.repeat(Math.floor((MAX_SEALED_LENGTH * 3) / 4) - 200)
  const token = await seal(fits, ring)
  t.ok(token.length <= MAX_SEALED_LENGTH)
  t.equal(await unseal(token, ring), fits, 'the largest values still round-trip')
  await t.rejects(seal('x'.repeat(MAX_SEALED_LENGTH), ring), RangeError, 'too large to seal')
})

t.test('a payload that is not JSON is refused', async (t) => {
  t.equal(await unseal(await craft({ kid: ring.current.kid }, 'not json'), ring), undefined)
})

t.test('only A256GCM with dir is accepted', async (t) => {
  const aes128 = await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt'])
  t.equal(await unseal(await craft({ kid: ring.current.kid, enc: 'A128GCM' }, '{}', aes128), ring), undefined, 'A128GCM')
  const zipped = await craft({ kid: ring.current.kid, zip: 'DEF' } as never)
  t.equal(decodeProtectedHeader(zipped).zip, 'DEF')
  t.equal(await unseal(zipped, ring), undefined, 'a compressed payload (zip: DEF)')
})

t.test('malformed tokens are refused by shape, never thrown at', async (t) => {
  const token = await seal({ a: 1 }, ring)
  const [header, , iv, ciphertext, tag] = token.split('.') as [string, string, string, string, string]
  const join = (...parts: string[]) => parts.join('.')
  const cases: [string, unknown][] = [
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
    ['four parts', join(header, '', iv, ciphertext)],
    ['six parts', join(header, '', iv, ciphertext, tag, tag)],
    ['an encrypted key (not dir)', join(header, 'AAAA', iv, ciphertext, tag)],
    ['short IV', join(header, '', iv.slice(1), ciphertext, tag)],
    ['short tag', join(header, '', iv, ciphertext, tag.slice(1))],
    ['padding', join(header, '', iv, ciphertext, `${tag}==`)],
    ['standard base64', join(header, '', iv, ciphertext, `${tag.slice(0, 20)}+A`)],
    ['empty header', join('', '', iv, ciphertext, tag)],
    ['huge header', join('e'.repeat(600), '', iv, ciphertext, tag)],
    ['empty ciphertext', join(header, '', iv, '', tag)],
    ['whitespace', ` ${token}`],
    ['too long', join(header, '', iv, 'A'.repeat(MAX_SEALED_LENGTH), tag)],
  ]
  for (const [what, bad] of cases) {
    t.notOk(looksSealed(bad), `${what}: not sealed-shaped`)
    t.equal(await unseal(bad as string, ring), undefined, `${what}: refused`)
  }
})

t.test('a base64url segment must be canonical (no stray bits in its last character)', async (t) => {
  const token = await seal({ a: 1 }, ring)
  const [header, , iv, ciphertext, tag] = token.split('.') as [string, string, string, string, string]
  const join = (...parts: string[]) => parts.join('.')
  // The tag's last character carries 4 unused bits: 'A' → 'B' is the same 16 bytes to a lenient decoder.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const strayTag = tag.slice(0, 21) + alphabet.charAt(alphabet.indexOf(tag.charAt(21)) | 1)
  t.notOk(looksSealed(join(header, '', iv, ciphertext, strayTag)), 'a tag with stray bits')
  t.ok(looksSealed(join(header, '', iv, ciphertext, `${tag.slice(0, 21)}Q`)), 'Q has no stray bits')
  // Segments of each length class: 4n (no unused bits), 4n+1 (impossible), 4n+2 (4 bits), 4n+3 (2 bits).
  const shaped = (segment: string) => looksSealed(join(header, '', iv, segment, tag))
  t.ok(shaped('AAAA'), '4n')
  t.notOk(shaped('AAAAA'), '4n+1 is never base64')
  t.ok(shaped('AAAAAw'), '4n+2, last char without stray bits')
  t.notOk(shaped('AAAAAx'), '4n+2, stray bits')
  t.ok(shaped('AAAAAA4'), '4n+3, last char without stray bits')
  t.notOk(shaped('AAAAAA5'), '4n+3, stray bits')
  t.equal(header.length % 4, 2, 'the protected header (46 bytes) leaves 4 unused bits')
  t.notOk(looksSealed(join(`${header.slice(0, -1)}_`, '', iv, ciphertext, tag)), 'a header with stray bits')
})

t.test('every single-character change of a sealed token is refused', async (t) => {
  const token = await seal({ sub: 'user', groups: ['a', 'b'] }, ring)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
  let opened = 0
  let tried = 0
  for (let i = 0; i < token.length; i++) {
    for (const c of alphabet) {
      if (c === token[i]) continue
      tried++
      if ((await unseal(token.slice(0, i) + c + token.slice(i + 1), ring)) !== undefined) opened++
    }
  }
  t.equal(opened, 0, `none of ${tried} variants opens`)
})
