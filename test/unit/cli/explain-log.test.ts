// A decision log line held against the replay: what it identifies, what it cannot know.
import t from 'tap'
import type { ExplainInput } from '../../../src/cli/explain-input.js'
import type { Explanation } from '../../../src/cli/explain-reasons.js'
import { compareWithLog, withLoggedKind } from '../../../src/cli/explain-log.js'

const LOGGED = { outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'], kind: 'api', source: 'authorization', credential: '0a1b2c3d', method: 'GET', path: '/pipeline/apis/v2beta1/runs' }
const input = (headers: Record<string, string>, logged: ExplainInput['logged'] | null = LOGGED): ExplainInput => ({ method: 'GET', target: '/x', headers, json: false, ...(logged ? { logged } : {}) })
const explanation = (outcome: string, credentials: Explanation['credentials'] = []): Explanation => ({
  request: { method: 'GET', target: '/x', path: '/x', headers: [] },
  verdict: { outcome, reason: 'R', codes: [] },
  credentials,
  policy: { groups: ['*'], emailDomains: [], result: '' },
  notes: [],
  exitCode: outcome === 'allow' ? 0 : 1,
})

t.test('an API call in the log is replayed as one when no header says so', async (t) => {
  const bare = input({ host: 'h' })
  t.same(withLoggedKind(bare).headers, { host: 'h', accept: 'application/json' })
  const given = input({ authorization: 'Bearer x' })
  t.equal(withLoggedKind(given), given, 'headers given: as given')
  const navigation = input({}, { ...LOGGED, kind: 'navigation' })
  t.equal(withLoggedKind(navigation), navigation)
  const none = input({}, null)
  t.equal(withLoggedKind(none), none)
})

t.test('without the logged credential: undecidable, and asks for it by its fingerprint', async (t) => {
  const given = input({})
  const replayed = withLoggedKind(given)
  const result = compareWithLog(explanation('unauthenticated'), given, replayed)
  t.equal(result.exitCode, 3)
  t.match(result.notes, [
    'the log line says GET /pipeline/apis/v2beta1/runs: unauthenticated CREDENTIAL_REJECTED; ERR_TOKEN_EXPIRED; API call; Authorization: Bearer sha256 0a1b2c3d',
    /carried a credential in Authorization: Bearer \(sha256 0a1b2c3d\).*-H @-/,
    /replayed as an API call with Accept: application\/json/,
  ])
  const unknownFingerprint = compareWithLog(explanation('login'), input({}, { ...LOGGED, kind: 'navigation', credential: undefined, codes: [], user: 'alice' }), input({}))
  t.match(unknownFingerprint.notes, [/navigation; Authorization: Bearer sha256 \?$/, /sha256 \?\)/])
  t.equal(compareWithLog(explanation('allow'), input({}, null), input({})).notes.length, 0, 'no log line, nothing added')
})

t.test('with a credential: the same one or another; the same verdict or not', async (t) => {
  const given = input({ authorization: 'Bearer x' })
  const same = compareWithLog(explanation('unauthenticated', [{ source: 'authorization', fingerprint: '0a1b2c3d', status: 'rejected', why: '' }]), given, given)
  t.equal(same.exitCode, 1)
  t.equal(same.notes.length, 1, 'only what the log line says')
  const other = compareWithLog(explanation('allow', [{ source: 'authorization', fingerprint: 'ffffffff', status: 'valid', why: '' }]), given, given)
  t.match(other.notes, [/the log line says/, /credential given \(sha256 ffffffff\) is not the one logged \(sha256 0a1b2c3d\)/, /logged unauthenticated, replayed now allow/])
  t.equal(other.exitCode, 0)
  const noFingerprint = compareWithLog(explanation('unauthenticated', [{ source: 'authorization', fingerprint: 'ffffffff', status: 'rejected', why: '' }]), input({}, { ...LOGGED, credential: undefined }), given)
  t.equal(noFingerprint.notes.length, 2)
  const noSource = compareWithLog(explanation('login'), input({}, { outcome: 'login', reason: 'LOGIN_REQUIRED', method: 'GET', path: '/' }), input({}))
  t.match(noSource.notes, ['the log line says GET /: login LOGIN_REQUIRED', 'replayed as an API call with Accept: application/json, since the header that made it one is not logged'])
  t.equal(noSource.exitCode, 1)
})
