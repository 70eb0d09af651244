import t from 'tap'
import * as p from '../../../src/config/parse.js'

/** The value of a successful parse, failing the test otherwise. */
function valueOf<T>(parsed: p.Parsed<T>): T | undefined {
  if (!parsed.ok) {
    t.fail(`unexpected problem: ${parsed.problem}`)
    return undefined
  }
  return parsed.value
}

/** The problem of a failed parse, or undefined when it succeeded. */
const problemOf = (parsed: p.Parsed<unknown>) => (parsed.ok ? undefined : parsed.problem)

t.test('unwrap returns a good value and throws on a bad built-in default', async (t) => {
  t.equal(p.unwrap(p.ok(3)), 3)
  t.throws(() => p.unwrap(p.fail('nope')), /invalid built-in default: nope/)
})

t.test('text is kept unchanged', async (t) => {
  t.equal(valueOf(p.text(' a b ')), ' a b ')
})

t.test('booleans accept exactly the spellings of Go strconv.ParseBool', async (t) => {
  for (const yes of ['1', 't', 'T', 'TRUE', 'true', 'True']) t.equal(valueOf(p.bool(yes)), true, yes)
  for (const no of ['0', 'f', 'F', 'FALSE', 'false', 'False']) t.equal(valueOf(p.bool(no)), false, no)
  for (const bad of ['on', 'yes', 'tRuE', ' true', '']) t.match(problemOf(p.bool(bad)), /must be a boolean/, bad)
})

t.test('integers must be decimal and inside their range', async (t) => {
  const port = p.integer(1, 65535)
  t.equal(valueOf(port('8080')), 8080)
  t.equal(valueOf(port('+1')), 1)
  t.equal(valueOf(port('65535')), 65535)
  for (const bad of ['0', '65536', '-1', '80.5', '0x50', '', ' 80', '"8080"']) {
    t.equal(problemOf(port(bad)), 'must be an integer from 1 to 65535', bad)
  }
  const atLeast = p.integer(0)
  t.equal(valueOf(atLeast('123456789')), 123456789)
  t.ok(Object.is(valueOf(atLeast('-0')), 0), '-0 reads as 0')
  t.equal(problemOf(atLeast('-5')), 'must be an integer of at least 0')
  t.equal(problemOf(atLeast('99999999999999999999')), 'must be an integer of at least 0')
})

t.test('a choice is case-insensitive, maps aliases and lists the values when wrong', async (t) => {
  const level = p.choice({ warn: 'warn', warning: 'warn', info: 'info' } as const)
  t.equal(valueOf(level('INFO')), 'info')
  t.equal(valueOf(level('Warning')), 'warn')
  t.equal(problemOf(level('verbose')), 'must be one of: warn, info')
  t.equal(problemOf(level('constructor')), 'must be one of: warn, info', 'inherited object keys are not choices')
})

t.test('comma lists are trimmed with empty entries dropped; word lists split on spaces too', async (t) => {
  t.same(p.splitCommas(' a, b ,,c ,'), ['a', 'b', 'c'])
  t.same(p.splitCommas(''), [])
  t.same(p.splitWords('profile email\tgroups,openid\n'), ['profile', 'email', 'groups', 'openid'])
  t.same(p.splitWords(' , '), [])
})

t.test('a list drops duplicates and reports every bad entry by position', async (t) => {
  const paths = p.list(p.path)
  t.same(valueOf(paths('/a,/b,/a')), ['/a', '/b'])
  t.same(valueOf(paths('')), [])
  t.equal(problemOf(paths('/ok,bad,/ok,worse')), 'entry 2: must be a path starting with /; entry 4: must be a path starting with /')
  t.same(valueOf(p.list(p.text, p.splitWords)('x y')), ['x', 'y'])
})

t.test('header names must be RFC 7230 tokens and are lower-cased', async (t) => {
  t.equal(valueOf(p.headerName('Kubeflow-UserID')), 'kubeflow-userid')
  t.equal(valueOf(p.headerName("x!#$%&'*+.^_`|~9")), "x!#$%&'*+.^_`|~9")
  for (const bad of ['', 'has space', 'colon:', 'ünï']) t.match(problemOf(p.headerName(bad)), /HTTP header name/, bad)
})

t.test('cookie names must be tokens and keep their case', async (t) => {
  t.equal(valueOf(p.cookieName('AuthService_Session')), 'AuthService_Session')
  t.match(problemOf(p.cookieName('a=b')), /cookie name/)
})

t.test('only absolute http and https URLs count as URLs', async (t) => {
  t.ok(p.isHttpUrl('https://example.com/x'))
  t.ok(p.isHttpUrl('HTTP://dex:5556'))
  for (const bad of ['http:/x', 'http://', 'ftp://x', '/path', 'http://a b', 'example.com']) t.notOk(p.isHttpUrl(bad), bad)
})

t.test('paths start with a slash', async (t) => {
  t.equal(valueOf(p.path('/dex')), '/dex')
  t.equal(problemOf(p.path('dex')), 'must be a path starting with /')
})

t.test('a regular expression is kept as its source once it compiles, and named when it does not', async (t) => {
  t.equal(valueOf(p.regexSource('^/katib/[a-z]+_')), '^/katib/[a-z]+_')
  t.equal(problemOf(p.regexSource('(apis')), 'is not a valid regular expression: (apis')
})

t.test('a URL-or-path is kept byte-for-byte', async (t) => {
  t.equal(valueOf(p.urlOrPath('/authservice/oidc/callback')), '/authservice/oidc/callback')
  t.equal(valueOf(p.urlOrPath('https://Kubeflow.example/cb?x=1')), 'https://Kubeflow.example/cb?x=1')
  t.match(problemOf(p.urlOrPath('authservice/oidc/callback')), /absolute http\(s\) URL or a path/)
})

t.test('the URL prefix always ends with a slash and has no query', async (t) => {
  t.equal(valueOf(p.urlPrefix('/authservice')), '/authservice/')
  t.equal(valueOf(p.urlPrefix('/authservice/')), '/authservice/')
  t.equal(valueOf(p.urlPrefix('https://kf.example/auth')), 'https://kf.example/auth/')
  t.match(problemOf(p.urlPrefix('authservice/')), /path starting with \//)
  t.match(problemOf(p.urlPrefix('/auth?x#y')), /query or fragment/)
})

t.test('CHECK_PATH_PREFIX is empty or starts with a slash without ending in one', async (t) => {
  t.equal(valueOf(p.checkPathPrefix('')), '')
  t.equal(valueOf(p.checkPathPrefix('/check')), '/check')
  for (const bad of ['/', '/check/', 'check']) t.match(problemOf(p.checkPathPrefix(bad)), /start with \/ and not end/, bad)
})

t.test('an https issuer is accepted silently, an http issuer with a warning', async (t) => {
  t.same(p.issuerUrl('https://accounts.example.com'), { ok: true, value: 'https://accounts.example.com', warning: undefined })
  const dex = p.issuerUrl('http://dex.auth.svc.cluster.local:5556/dex')
  t.equal(valueOf(dex), 'http://dex.auth.svc.cluster.local:5556/dex')
  t.match(dex.ok && dex.warning, /plain http/)
  t.match(problemOf(p.issuerUrl('dex.auth')), /absolute http or https URL/)
  t.match(problemOf(p.issuerUrl('https://x/?a=b')), /query or fragment/)
})

t.test('SameSite is case-insensitive and anything unknown becomes Lax with a warning', async (t) => {
  t.same(p.sameSite('none'), { ok: true, value: 'None', warning: undefined })
  t.equal(valueOf(p.sameSite('STRICT')), 'Strict')
  t.equal(valueOf(p.sameSite('Lax')), 'Lax')
  const odd = p.sameSite('relaxed')
  t.equal(valueOf(odd), 'Lax')
  t.match(odd.ok && odd.warning, /using Lax/)
})

t.test('host:port needs a host and a port in range', async (t) => {
  t.equal(valueOf(p.hostPort('redis.ns.svc:6379')), 'redis.ns.svc:6379')
  t.equal(valueOf(p.hostPort('[::1]:6379')), '[::1]:6379')
  for (const bad of ['redis', 'redis:0', 'redis:70000', ':6379', 'a b:1', '::1:6379']) {
    t.match(problemOf(p.hostPort(bad)), /host:port/, bad)
  }
})

t.test('a list of host:port needs at least one, each valid, named by position', async (t) => {
  t.same(valueOf(p.hostPorts('s1:26379, s2:26379,[::1]:26380')), ['s1:26379', 's2:26379', '[::1]:26380'])
  t.equal(problemOf(p.hostPorts(' , ')), 'must list at least one host:port')
  t.equal(problemOf(p.hostPorts('s1:26379,s2')), 'entry 2: must be host:port with a port from 1 to 65535')
})

t.test('scopes split on commas and spaces with openid forced first and once', async (t) => {
  t.same(valueOf(p.scopes('profile email groups')), ['openid', 'profile', 'email', 'groups'])
  t.same(valueOf(p.scopes('email,openid,email')), ['openid', 'email'])
  t.same(valueOf(p.scopes('')), ['openid'])
  t.match(problemOf(p.scopes('email bad"scope')), /entry 2: is not a valid OAuth scope/)
})

t.test('keys are base64 or base64url with optional padding and a minimum size', async (t) => {
  const key = p.base64Key(4)
  t.same(valueOf(key('AQIDBA==')), new Uint8Array([1, 2, 3, 4]))
  t.same(valueOf(key('AQIDBA')), new Uint8Array([1, 2, 3, 4]))
  t.same(valueOf(key('-_-_-_-_')), new Uint8Array(Buffer.from('-_-_-_-_', 'base64url')))
  t.same(valueOf(key('+/+/+/+/')), new Uint8Array(Buffer.from('+/+/+/+/', 'base64')))
  t.notOk(Buffer.isBuffer(valueOf(key('AQIDBA'))), 'a plain Uint8Array, not a pooled Buffer')
  for (const bad of ['AQIDBA=', 'AQIDB', 'AQ+D_A==', 'AQID BA', 'AQIDBA===', '']) {
    t.equal(problemOf(key(bad)), 'must be base64 or base64url', bad)
  }
  t.equal(problemOf(key('AQID')), 'must decode to at least 4 bytes')
})

t.test('JWT algorithms allow only asymmetric ones and explain why none and HS* are refused', async (t) => {
  t.same(valueOf(p.jwtAlgorithms('RS256, ES256,EdDSA,RS256')), ['RS256', 'ES256', 'EdDSA'])
  t.match(problemOf(p.jwtAlgorithms('RS256,None')), /entry 2: none is not allowed: unsigned/)
  t.match(problemOf(p.jwtAlgorithms('HS256')), /HS256 is not allowed: HMAC/)
  t.match(problemOf(p.jwtAlgorithms('rs256')), /must be one of RS256/)
  t.equal(problemOf(p.jwtAlgorithms(' , ')), 'must list at least one algorithm')
})

t.test('an extra issuer is issuer=audience, or a bare issuer that takes AUDIENCES', async (t) => {
  t.same(valueOf(p.extraIssuer(' https://kubernetes.default.svc = my-aud ')), {
    issuer: 'https://kubernetes.default.svc',
    audience: 'my-aud',
  })
  t.same(valueOf(p.extraIssuer('https://x')), { issuer: 'https://x', audience: '' }, 'bare issuer: audience from AUDIENCES')
  t.match(problemOf(p.extraIssuer('nope')), /issuer=audience/)
  t.match(problemOf(p.extraIssuer('x=aud')), /issuer must be an absolute/)
  t.match(problemOf(p.extraIssuer('https://x= ')), /audience must not be empty/)
  t.match(problemOf(p.extraIssuer('kubernetes/serviceaccount')), /^kubernetes\/serviceaccount is the issuer of legacy service-account tokens.*KUBERNETES_LEGACY_TOKENS=true/, 'the legacy service-account issuer: pointed to KUBERNETES_TOKENS')
})

t.test('extra issuer rules: a JSON object keyed by issuer URL, the safe defaults filling what a rule leaves out', async (t) => {
  t.same(p.DEFAULT_EXTRA_ISSUER_RULES, { useridClaim: 'sub', emailDomains: 'apply' })
  t.same(valueOf(p.extraIssuerRules('{}')), [])
  t.same(valueOf(p.extraIssuerRules('{"https://a.example": {}, "https://b.example": {"useridClaim": "email", "emailDomains": "skip"}, "https://c.example": {"emailDomains": "skip"}}')), [
    { issuer: 'https://a.example', rules: { useridClaim: 'sub', emailDomains: 'apply' } },
    { issuer: 'https://b.example', rules: { useridClaim: 'email', emailDomains: 'skip' } },
    { issuer: 'https://c.example', rules: { useridClaim: 'sub', emailDomains: 'skip' } },
  ])
  t.equal(problemOf(p.extraIssuerRules('{')), 'must be valid JSON')
  for (const bad of ['[]', 'null', '"x"', '3']) t.match(problemOf(p.extraIssuerRules(bad)), /^must be a JSON object keyed by issuer URL/, bad)
  t.equal(problemOf(p.extraIssuerRules('{"__proto__": {}}')), '"__proto__": must be an issuer URL listed in EXTRA_JWT_ISSUERS', 'a key that is no URL')
  for (const bad of ['null', '[]', '"sub"']) t.match(problemOf(p.extraIssuerRules(`{"https://a.example": ${bad}}`)), /^https:\/\/a\.example: must be an object/, bad)
  t.equal(
    problemOf(p.extraIssuerRules('{"https://a.example": {"useridClaim": 1, "emailDomains": "Apply", "email_domains": "skip"}}')),
    'https://a.example: unknown member "email_domains" (useridClaim, emailDomains); https://a.example: useridClaim must be a non-empty string (a claim name); https://a.example: emailDomains must be "apply" or "skip"',
    'every problem of a rule, a misspelt member included',
  )
  t.match(problemOf(p.extraIssuerRules('{"https://a.example": {"useridClaim": ""}}')), /useridClaim must be a non-empty string/)
})

t.test('user id transformers compile Go-style flags into global JavaScript regexps', async (t) => {
  const rules = valueOf(p.userIdTransformers('[{"matches":"(?i)^(.*)@EXAMPLE\\\\.com$","replaces":"$1"},{"matches":"x","replaces":""}]'))
  t.equal(rules?.length, 2)
  t.equal(rules?.[0]?.matches.source, '^(.*)@EXAMPLE\\.com$')
  t.equal(rules?.[0]?.matches.flags, 'gi')
  t.equal('ann@example.com'.replace(rules![0]!.matches, rules![0]!.replaces), 'ann')
  t.equal(rules?.[1]?.matches.flags, 'g')
  t.equal(valueOf(p.userIdTransformers('[{"matches":"(?smi)a.b","replaces":""}]'))?.[0]?.matches.flags, 'gims')
  t.equal(valueOf(p.userIdTransformers('[{"matches":"(?ii)a","replaces":""}]'))?.[0]?.matches.flags, 'gi', 'repeated flags are merged')
  t.same(valueOf(p.userIdTransformers('[]')), [])
})

t.test('user id transformers report bad JSON, shape and regexps by rule number', async (t) => {
  t.equal(problemOf(p.userIdTransformers('{')), 'must be valid JSON')
  t.match(problemOf(p.userIdTransformers('{"matches":"a"}')), /must be a JSON array/)
  const problem = problemOf(p.userIdTransformers('[{"matches":"ok","replaces":""},null,{"matches":"a"},7,{"matches":"(","replaces":""}]'))
  t.match(problem, /^rule 2: must be an object with string "matches" and "replaces"; rule 3: must be an object/)
  t.match(problem, /rule 4: must be an object/)
  t.match(problem, /rule 5: invalid regular expression \(.+\)$/)
  t.notMatch(problem, /rule 1:/)
})

t.test('LOG_ALLOW_DECISIONS is all, debug or 1-in-N with N from 2 to a million', async (t) => {
  t.same(valueOf(p.allowLogging('all')), { mode: 'all' })
  t.same(valueOf(p.allowLogging('DEBUG')), { mode: 'debug' })
  t.same(valueOf(p.allowLogging('1-in-100')), { mode: 'sample', every: 100 })
  t.same(valueOf(p.allowLogging('1-in-1000000')), { mode: 'sample', every: 1_000_000 })
  for (const wrong of ['1-in-1', '1-in-0', '1-in-1000001', '2-in-10', '1-in-', '1/10', 'none', '1-in-1e3']) {
    t.equal(problemOf(p.allowLogging(wrong)), 'must be all, debug or 1-in-N (N from 2 to 1000000)', wrong)
  }
})
