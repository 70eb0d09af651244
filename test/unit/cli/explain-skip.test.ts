// The near misses of SKIP_AUTH_URLS, named: segment boundaries, normalisation, case.
import t from 'tap'
import { skipHints } from '../../../src/cli/explain-skip.js'

t.test('each near miss says which rule it broke; a path far from every entry gets none', async (t) => {
  const rules = ['/dex', '/public/', '', '/']
  t.same(skipHints('/public/../pipeline/', '/pipeline/', rules), ['the path as sent starts with /public/, but normalised (RFC 3986: dot segments removed, unreserved characters decoded) it is /pipeline/'])
  t.same(skipHints('/publications/x', '/publications/x', rules), ['/public/ matches whole segments only: /publications/x does not continue it with "/"'])
  t.same(skipHints('/DEX/auth', '/DEX/auth', rules), ['/dex differs from /DEX/auth in case only: paths are case-sensitive'])
  t.same(skipHints('/jupyter/', '/jupyter/', rules), [])
})
