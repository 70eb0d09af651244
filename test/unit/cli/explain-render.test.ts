// explain's text: the verdict first, then each reason on its own labelled line.
import t from 'tap'
import type { Explanation } from '../../../src/cli/explain-reasons.js'
import { renderText } from '../../../src/cli/explain-render.js'

const BASE: Explanation = {
  request: { method: 'GET', target: '/jupyter/', path: '/jupyter/', headers: [['host', 'kubeflow.example.com']] },
  verdict: { outcome: 'allow', reason: 'CREDENTIAL_VALID', codes: [], user: 'alice@example.com' },
  skip: { rules: ['/dex'], ambiguous: false, hints: [] },
  kind: { kind: 'navigation', because: 'navigation: no API signal' },
  credentials: [{ source: 'session-cookie', fingerprint: '0a1b2c3d', status: 'valid', why: 'establishes alice@example.com' }],
  identity: { user: 'alice@example.com', email: 'alice@example.com', groups: ['team-a'] },
  policy: { groups: ['*'], emailDomains: [], result: 'allowed' },
  answer: { status: 200, forwarded: true, headers: [['kubeflow-userid', 'alice@example.com']], removed: ['x-auth-request-user'], responseHeaders: [['set-cookie', 's=<not shown>']] },
  notes: ['a note'],
  exitCode: 0,
}

t.test('an allow: every reason and the upstream changes', async (t) => {
  t.equal(
    renderText(BASE),
    [
      'GET /jupyter/',
      '  host: kubeflow.example.com',
      '',
      'Verdict      ALLOWED — CREDENTIAL_VALID (user alice@example.com)',
      'Path         /jupyter/ after normalisation',
      'Skip path    no SKIP_AUTH_URLS entry matches (/dex)',
      'Request      navigation: no API signal',
      'Credentials  tried in order:',
      '  the session cookie (sha256 0a1b2c3d): valid — establishes alice@example.com',
      'Identity     alice@example.com <alice@example.com>, groups: team-a',
      'Policy       GROUPS_ALLOWLIST *; ALLOWED_EMAIL_DOMAINS any: allowed',
      'Envoy gets   200: the request goes upstream',
      '  headers set on the upstream request:',
      '    kubeflow-userid: alice@example.com',
      '  headers removed from it: x-auth-request-user',
      '  added to the response:',
      '    s=<not shown>'.replace('s=', 'set-cookie: s='),
      'Note         a note',
      '',
    ].join('\n'),
  )
})

t.test('denials, skips, endpoints and the other shapes', async (t) => {
  const denied = renderText({
    ...BASE,
    verdict: { outcome: 'unauthenticated', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] },
    skip: { rules: [], ambiguous: true, hints: ['a hint'] },
    credentials: [{ source: 'authorization', fingerprint: 'ffffffff', status: 'rejected', code: 'ERR_TOKEN_EXPIRED', why: 'expired at …' }],
    identity: { user: 'bob', groups: [] },
    policy: { groups: ['team-a'], emailDomains: ['example.com'], result: 'not reached' },
    answer: { status: 302, forwarded: false, headers: [['location', '/dex/auth']], removed: [], responseHeaders: [], location: '/dex/auth' },
    notes: [],
  })
  t.match(denied, 'Verdict      DENIED (401) — CREDENTIAL_REJECTED ERR_TOKEN_EXPIRED\n')
  t.match(denied, '(ambiguous: an upstream may read it otherwise')
  t.match(denied, 'no SKIP_AUTH_URLS entry matches (none)\n  a hint\n')
  t.match(denied, '  Authorization: Bearer (sha256 ffffffff): rejected ERR_TOKEN_EXPIRED — expired at …')
  t.match(denied, 'Identity     bob, groups: none')
  t.match(denied, 'GROUPS_ALLOWLIST team-a; ALLOWED_EMAIL_DOMAINS example.com: not reached')
  t.match(denied, 'Envoy gets   302 to /dex/auth: the client gets it, nothing goes upstream\n  headers:\n    location: /dex/auth')

  const skipped = renderText({ ...BASE, verdict: { outcome: 'skip', reason: 'SKIP_PATH', codes: [] }, skip: { rule: '/dex', rules: ['/dex'], ambiguous: false, hints: [] }, credentials: [], identity: undefined, answer: { status: 200, forwarded: true, headers: [], removed: [], responseHeaders: [] } })
  t.match(skipped, 'Skip path    matches SKIP_AUTH_URLS entry /dex: no credential is needed')
  t.notMatch(skipped, 'Credentials')
  t.match(skipped, '  no header set on the upstream request\n')

  const none = renderText({ ...BASE, credentials: [], identity: undefined, verdict: { outcome: 'strange', reason: 'R', codes: [] } })
  t.match(none, 'Credentials  none carried')
  t.match(none, 'Verdict      strange — R\n')

  const endpoint = renderText({ ...BASE, verdict: { outcome: 'endpoint', reason: 'LOGOUT', codes: [] }, endpoint: 'logout', skip: undefined, kind: undefined, answer: undefined })
  t.match(endpoint, "Verdict      AUTHSERVICE'S OWN ENDPOINT — LOGOUT")
  t.notMatch(endpoint, 'Skip path')
  t.notMatch(endpoint, 'Envoy gets')

  const unauthenticated = renderText({ ...BASE, answer: { status: 401, forwarded: false, headers: [['www-authenticate', 'Bearer realm="authservice"']], removed: [], responseHeaders: [] } })
  t.match(unauthenticated, 'Envoy gets   401: the client gets it, nothing goes upstream\n  headers:\n    www-authenticate: Bearer realm="authservice"')

  const bare = renderText({ ...BASE, skip: undefined, kind: undefined })
  t.match(bare, 'no SKIP_AUTH_URLS entry matches (none)')
})
