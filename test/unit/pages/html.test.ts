/** HTML escaping and the page frame: nothing from a user or a token can become markup. */
import t from 'tap'
import { createHash } from 'node:crypto'
import { contentSecurityPolicy, cspHash, escapeHtml, html, page, raw } from '../../../src/pages/html.js'

type Asserts = Pick<typeof t, 'equal' | 'match' | 'notMatch'>

const HOSTILE = `<script>alert(1)</script>"'&`
const HOSTILE_ESCAPED = '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;'

/** No script, and nothing loaded from another origin (air-gapped clusters). */
function assertSelfContained(t: Asserts, markup: string, name: string) {
  t.notMatch(markup, /<script/i, `${name}: no script element`)
  t.notMatch(markup, /\b(src|href|action)\s*=\s*["']?\s*(https?:)?\/\//i, `${name}: nothing loaded from another origin`)
  t.notMatch(markup, /@import|url\(/i, `${name}: no external style resources`)
}

t.test('escapeHtml', async (t) => {
  const cases: [name: string, input: string, expected: string][] = [
    ['a script tag comes out as text', '<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['quotes and ampersands are escaped', `"'&`, '&quot;&#39;&amp;'],
    ['already-escaped text is escaped again, not decoded', '&lt;b&gt;', '&amp;lt;b&amp;gt;'],
    ['plain text is unchanged', 'alice@example.com (team-a)', 'alice@example.com (team-a)'],
    ['an empty string stays empty', '', ''],
    ['non-ASCII text is unchanged', 'Jürgen – 山田', 'Jürgen – 山田'],
  ]
  for (const [name, input, expected] of cases) t.equal(escapeHtml(input), expected, name)
})

t.test('the html template escapes every interpolated value', async (t) => {
  t.equal(html`<p>${HOSTILE}</p>`, `<p>${HOSTILE_ESCAPED}</p>`, 'strings are escaped')
  t.equal(html`<meta content="${HOSTILE}">`, `<meta content="${HOSTILE_ESCAPED}">`, 'an attribute value cannot be closed early')
  t.equal(html`<p>${5} of ${0}</p>`, '<p>5 of 0</p>', 'numbers are written as text')
  t.equal(html`<p>${raw('<b>trusted</b>')}${'<b>'}</p>`, '<p><b>trusted</b>&lt;b&gt;</p>', 'only raw() markup is kept as markup')
  t.equal(html`<p>static & <b>markup</b></p>`, '<p>static & <b>markup</b></p>', 'the template text itself is left alone')
  t.equal(html`${'a'}${'<'}`, 'a&lt;', 'values at the edges')
})

t.test('a page escapes its title and embeds trusted head and body markup', async (t) => {
  const markup = page(HOSTILE, '<p>body</p>', '<meta http-equiv="refresh" content="5">')
  t.match(markup, /^<!doctype html>/)
  t.match(markup, '<html lang="en">')
  t.match(markup, '<meta charset="utf-8">')
  t.match(markup, '<meta name="robots" content="noindex">', 'deny pages are not indexed')
  t.match(markup, `<title>${HOSTILE_ESCAPED}</title>`)
  t.match(markup, `<h1>${HOSTILE_ESCAPED}</h1>`)
  t.notMatch(markup, '<script>alert(1)</script>', 'the hostile title never appears raw')
  t.match(markup, '<main><h1>')
  t.match(markup, '<p>body</p></main>')
  t.match(markup, '<meta http-equiv="refresh" content="5"><title>', 'head markup goes into the head')
  assertSelfContained(t, markup, 'page')
})

t.test('a page without extra head markup', async (t) => {
  const markup = page('Title', '')
  t.match(markup, '<meta name="robots" content="noindex"><title>Title</title>')
  t.notMatch(markup, 'http-equiv')
  assertSelfContained(t, markup, 'plain page')
})

t.test("the content security policy allows the frame's inline style by hash, nothing else by default, and never framing", async (t) => {
  const style = /<style>([^<]*)<\/style>/.exec(page('t', ''))![1]!
  const policy = contentSecurityPolicy()
  t.equal(policy, `default-src 'none'; style-src ${cspHash(style)}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
  t.equal(cspHash('alert(1)'), `'sha256-${createHash('sha256').update('alert(1)').digest('base64')}'`, 'the CSP hash source of a text (CSP Level 3 §8.4)')
  t.match(contentSecurityPolicy([cspHash('a'), cspHash('b')], true), /; script-src 'sha256-\S+=' 'sha256-\S+='; connect-src 'self'; base-uri/, 'scripts by hash and fetch to this origin when asked')
})
