/** Where a browser may be sent after login or logout: only a same-origin relative path (RFC 9700 §4.11). */
import t from 'tap'
import { safeRelativeTarget } from '../../../src/login/safe-target.js'

t.test('same-origin relative paths, with their queries, survive byte for byte', async (t) => {
  const good = [
    '/',
    '/jupyter/',
    '/notebook/kubeflow-user/nb-1/lab?reset&token=',
    '/pipeline/#/runs/details/4f6c?ns=kubeflow-user',
    '/_/jupyter/?ns=kubeflow-user-example-com',
    '/a%20b/c%2Fd?x=%2F%2Fevil',
    '/%252F%252Fevil',
    '/search?q=https://example.com',
    '/javascript:alert(1)',
    '/caf%C3%A9',
    '/' + 'a'.repeat(4095),
  ]
  for (const target of good) t.equal(safeRelativeTarget(target), target, target.slice(0, 60))
})

t.test('open-redirect targets fall back to the start page', async (t) => {
  const corpus: [name: string, target: string][] = [
    ['scheme-relative //evil', '//evil.example/'],
    ['backslash /\\evil, which browsers treat as //', '/\\evil.example'],
    ['encoded slashes /%2F%2Fevil', '/%2F%2Fevil.example'],
    ['lower-case encoded slashes', '/%2f%2fevil.example'],
    ['an encoded backslash /%5Cevil', '/%5Cevil.example'],
    ['an encoded backslash later in the path', '/a/%5C/evil'],
    ['a backslash anywhere', '/a\\b'],
    ['an absolute https URL', 'https://evil.example/'],
    ['an absolute http URL', 'http://evil.example'],
    ['a javascript: URL', 'javascript:alert(document.cookie)'],
    ['a data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['a path without a leading slash', 'evil.example'],
    ['a CR/LF header injection', '/ok\r\nSet-Cookie: authservice_session=attacker'],
    ['an encoded CR/LF header injection', '/ok%0d%0aSet-Cookie:%20x=y'],
    ['an upper-case encoded LF', '/ok%0Alocation:%20https://evil.example'],
    ['a tab, which browsers strip (/\\t/evil becomes //evil)', '/\t/evil.example'],
    ['an encoded tab', '/%09/evil.example'],
    ['a NUL byte', '/ok\u0000'],
    ['an encoded DEL', '/ok%7F'],
    ['an over-long target (4097 characters)', '/' + 'a'.repeat(4096)],
    ['a malformed percent-encoding', '/%E0%A4%A'],
    ['a lone percent sign', '/100%'],
    ['an empty target', ''],
  ]
  for (const [name, target] of corpus) t.equal(safeRelativeTarget(target), '/', name)
})

t.test('the fallback is the caller\'s (AFTER_LOGOUT_URL), and a missing target takes it too', async (t) => {
  t.equal(safeRelativeTarget(undefined), '/')
  t.equal(safeRelativeTarget(undefined, '/authservice/site/after_logout'), '/authservice/site/after_logout')
  t.equal(safeRelativeTarget('//evil.example', 'https://kubeflow.example.com/'), 'https://kubeflow.example.com/')
  t.equal(safeRelativeTarget('/home', 'https://kubeflow.example.com/'), '/home', 'a good target wins over the fallback')
})
