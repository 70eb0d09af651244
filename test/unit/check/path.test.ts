/** Path normalisation and segment-boundary prefix matching: the decision of which paths skip authentication. */
import t from 'tap'
import { createPrefixFinder, createPrefixMatcher, normalizePath, splitTarget } from '../../../src/check/path.js'

t.test('splitTarget splits at the first ?', async (t) => {
  const cases: [name: string, target: string, path: string, query: string][] = [
    ['no query leaves the query empty', '/a/b', '/a/b', ''],
    ['query is returned without the ?', '/a/b?x=1', '/a/b', 'x=1'],
    ['only the first ? splits', '/a?x=1?y=2', '/a', 'x=1?y=2'],
    ['a bare ? gives an empty query', '/a?', '/a', ''],
    ['a target that is only a query has an empty path', '?x', '', 'x'],
  ]
  for (const [name, target, path, query] of cases) {
    t.same(splitTarget(target), { path, query }, name)
  }
})

t.test('normalizePath (RFC 3986 §6.2.2)', async (t) => {
  const cases: [name: string, input: string, path: string, ambiguous: boolean][] = [
    ['a plain path is unchanged', '/dex/auth', '/dex/auth', false],
    ['the root is unchanged', '/', '/', false],
    ['a trailing slash is kept', '/api/', '/api/', false],
    ['case is preserved (paths are case-sensitive)', '/DEX/Auth', '/DEX/Auth', false],
    ['encoded unreserved letters and digits are decoded', '/%64%65%78/%41%30', '/dex/A0', false],
    ['encoded unreserved marks are decoded', '/%2D%2e%5F%7e', '/-._~', false],
    ['encoded reserved characters keep their encoding with upper-case hex', '/a%3fb%3Ac%40', '/a%3Fb%3Ac%40', false],
    ['an encoded percent is not decoded twice', '/a%252e', '/a%252e', false],
    ['encoded non-ASCII octets stay encoded with upper-case hex', '/caf%c3%a9', '/caf%C3%A9', false],
    ['a single-dot segment is removed', '/a/./b', '/a/b', false],
    ['a double-dot segment removes the previous segment', '/dex/../api', '/api', false],
    ['encoded dot segments are decoded before removal', '/dex/%2e%2e/api', '/api', false],
    ['upper-case encoded dot segments are decoded too', '/dex/%2E%2E/api', '/api', false],
    ['a half-encoded dot segment is removed', '/dex/.%2e/api', '/api', false],
    ['double dots cannot climb above the root', '/../../etc', '/etc', false],
    ['a trailing single dot leaves a trailing slash', '/a/b/.', '/a/b/', false],
    ['a trailing double dot leaves a trailing slash', '/a/b/..', '/a/', false],
    ['double dots back to the root give the root', '/a/..', '/', false],
    ['a path of only dot segments is the root', '/./..', '/', false],
    ['a dot segment followed by a trailing slash', '/a/../', '/', false],
    ['dots inside a segment are not dot segments', '/dex./x..y/...', '/dex./x..y/...', false],
    ['trailing dots on a segment are kept', '/dex..', '/dex..', false],
    ['an encoded slash is ambiguous', '/dex%2Fapi', '/dex%2Fapi', true],
    ['a lower-case encoded slash is ambiguous', '/dex%2fapi', '/dex%2Fapi', true],
    ['an encoded backslash is ambiguous', '/dex%5Capi', '/dex%5Capi', true],
    ['a lower-case encoded backslash is ambiguous', '/dex%5capi', '/dex%5Capi', true],
    ['a literal backslash is ambiguous', '/dex\\..\\api', '/dex\\..\\api', true],
    ['a leading empty segment is ambiguous', '//dex', '//dex', true],
    ['an inner empty segment is ambiguous', '/dex//x', '/dex//x', true],
    ['a percent without hex digits is ambiguous and kept literally', '/a%zz', '/a%zz', true],
    ['a percent with one hex digit is ambiguous', '/a%2', '/a%2', true],
    ['a trailing percent is ambiguous', '/a%', '/a%', true],
    ['a malformed encoding does not stop later decoding', '/%%41', '/%A', true],
    ['an empty path is ambiguous', '', '', true],
    ['a path without a leading slash is ambiguous', 'dex/auth', 'dex/auth', true],
    ['a relative path still has its dot segments removed', '../a/./b', 'a/b', true],
    ['an asterisk-form target is ambiguous', '*', '*', true],
    ['a ..; segment (servlet path parameter) is ambiguous', '/dex/..;/api', '/dex/..;/api', true],
    ['a .; segment is ambiguous', '/dex/.;x/api', '/dex/.;x/api', true],
    ['a semicolon elsewhere is not ambiguous', '/dex;v=1/a;b/.x;/..x;', '/dex;v=1/a;b/.x;/..x;', false],
    ['a lone dot segment ending in ; at the end is ambiguous', '/dex/..;', '/dex/..;', true],
  ]
  for (const [name, input, path, ambiguous] of cases) {
    t.same(normalizePath(input), { path, ambiguous }, name)
  }
})

t.test('createPrefixMatcher matches on segment boundaries', async (t) => {
  const skipAuth = createPrefixMatcher(['/dex', '/authservice/'])
  const cases: [name: string, path: string, matches: boolean][] = [
    ['the prefix itself', '/dex', true],
    ['the prefix with a trailing slash', '/dex/', true],
    ['a path below the prefix', '/dex/auth/local', true],
    ['a slash-terminated entry without its trailing slash', '/authservice', true],
    ['a path below a slash-terminated entry', '/authservice/logout', true],
    ['dot segments that stay inside the prefix', '/dex/a/../auth', true],
    ['an encoded unreserved character spelling the prefix', '/%64ex/auth', true],
    ['dot segments that climb into the prefix', '/api/../dex/auth', true],
    ['a longer segment sharing the prefix text (/dexfoo)', '/dexfoo', false],
    ['a longer segment after a slash-terminated entry', '/authservicex', false],
    ['a different case (/DEX)', '/DEX', false],
    ['a trailing dot on the segment (/dex.)', '/dex.', false],
    ['trailing dots on the segment (/dex..)', '/dex..', false],
    ['dot segments that climb out of the prefix (/dex/../api)', '/dex/../api', false],
    ['encoded dot segments that climb out (/dex/%2e%2e/api)', '/dex/%2e%2e/api', false],
    ['an encoded slash (/dex%2Fapi)', '/dex%2Fapi', false],
    ['an encoded slash below the prefix', '/dex/a%2fb', false],
    ['an encoded backslash below the prefix', '/dex/a%5Cb', false],
    ['a literal backslash below the prefix', '/dex/a\\b', false],
    ['a leading empty segment (//dex)', '//dex', false],
    ['an inner empty segment (/dex//x)', '/dex//x', false],
    ['a malformed encoding below the prefix', '/dex/%zz', false],
    ['a servlet ..; segment below the prefix', '/dex/..;/api', false],
    ['a path without a leading slash', 'dex', false],
    ['the root', '/', false],
    ['an unrelated path', '/api/v1', false],
  ]
  for (const [name, path, matches] of cases) {
    t.equal(skipAuth(normalizePath(path)), matches, `${matches ? 'matches' : 'does not match'} ${name}`)
  }
})

t.test('createPrefixMatcher entries', async (t) => {
  const cases: [name: string, prefixes: string[], path: string, matches: boolean][] = [
    ['an empty list never matches', [], '/dex', false],
    ['an empty list never matches the root', [], '/', false],
    ['empty entries are ignored', ['', '/dex'], '/dex', true],
    ['a list of only empty entries never matches', [''], '/', false],
    ['entries are normalised (encoded unreserved)', ['/%64ex'], '/dex', true],
    ['entries are normalised (dot segments)', ['/api/../dex/'], '/dex/x', true],
    ['an entry without a leading slash is ignored', ['dex'], '/dex', false],
    ['an entry with an empty segment is ignored', ['/dex//'], '/dex', false],
    ['the root entry matches every unambiguous path', ['/'], '/anything/at/all', true],
    ['the root entry matches the root', ['/'], '/', true],
    ['the root entry does not match an ambiguous path', ['/'], '//x', false],
    ['duplicate entries still match', ['/dex', '/dex/', '/dex'], '/dex/x', true],
    ['a later entry matches when the first does not', ['/api/', '/apis/', '/ml_metadata'], '/ml_metadata/x', true],
    ['a multi-segment entry matches below itself', ['/a/b'], '/a/b/c', true],
    ['a multi-segment entry does not match its parent', ['/a/b'], '/a', false],
  ]
  for (const [name, prefixes, path, matches] of cases) {
    t.equal(createPrefixMatcher(prefixes)(normalizePath(path)), matches, name)
  }
})

t.test('very long hostile paths are handled in linear time', async (t) => {
  const skipAuth = createPrefixMatcher(['/dex'])
  const length = 100_000
  const cases: [name: string, path: string, matches: boolean, ambiguous: boolean][] = [
    ['a long plain path below the prefix', `/dex/${'a'.repeat(length)}`, true, false],
    ['a long single segment sharing the prefix text', `/dex${'x'.repeat(length)}`, false, false],
    ['many dot segments climbing out of the prefix', `/dex${'/..'.repeat(length / 3)}/api`, false, false],
    ['many encoded dot segments climbing out', `/dex${'/%2e%2e'.repeat(length / 7)}/api`, false, false],
    ['many dot segments staying inside the prefix', `/dex${'/a/..'.repeat(length / 5)}`, true, false],
    ['many encoded unreserved characters', `/dex/${'%41'.repeat(length / 3)}`, true, false],
    ['many malformed percent signs', `/dex/${'%'.repeat(length)}`, false, true],
    ['many empty segments', `/dex${'/'.repeat(length)}`, false, true],
    ['many servlet ..; segments', `/dex${'/..;'.repeat(length / 4)}`, false, true],
  ]
  for (const [name, path, matches, ambiguous] of cases) {
    const started = performance.now()
    const normalized = normalizePath(path)
    const matched = skipAuth(normalized)
    const elapsed = performance.now() - started
    t.equal(normalized.ambiguous, ambiguous, `${name}: ambiguous is ${ambiguous}`)
    t.equal(matched, matches, `${name}: ${matches ? 'matches' : 'does not match'}`)
    // Generous bound: catches quadratic or backtracking behaviour, not machine speed.
    t.ok(elapsed < 1_000, `${name}: took ${elapsed.toFixed(1)} ms`)
  }
})

t.test('createPrefixFinder answers the entry that matched, as configured (what explain shows)', async (t) => {
  const find = createPrefixFinder(['', '/dex/', '/dex', '/%2Fx', '/public'])
  t.equal(find(normalizePath('/dex/auth')), '/dex/', 'the first entry of the same base')
  t.equal(find(normalizePath('/public/a/../b')), '/public', 'after normalisation')
  t.equal(find(normalizePath('/public/../jupyter/')), undefined)
  t.equal(find(normalizePath('/public//x')), undefined, 'an ambiguous path matches none')
})
