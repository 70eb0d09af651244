// The decision log's credential fingerprint: the first 8 hex digits of the credential's SHA-256.
import t from 'tap'
import { createHash } from 'node:crypto'
import { credentialFingerprint, FINGERPRINT_HEX_DIGITS } from '../../../src/check/fingerprint.js'

t.test('8 hex digits of SHA-256, the same for the same credential, never the credential', async (t) => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
  t.equal(FINGERPRINT_HEX_DIGITS, 8)
  t.equal(credentialFingerprint(token), createHash('sha256').update(token).digest('hex').slice(0, 8))
  t.match(credentialFingerprint(token), /^[0-9a-f]{8}$/)
  t.equal(credentialFingerprint(token), credentialFingerprint(token))
  t.not(credentialFingerprint(token), credentialFingerprint(`${token}x`))
})
