/** Whether a request was sent by a page of this site: Fetch Metadata first, else Origin against Host. */
import t from 'tap'
import { fromSameOrigin } from '../../../src/login/same-origin.js'

t.test('Sec-Fetch-Site decides when the browser sends it', async (t) => {
  t.equal(fromSameOrigin({ 'sec-fetch-site': 'same-origin' }), true)
  for (const site of ['same-site', 'cross-site', 'none']) {
    t.equal(fromSameOrigin({ 'sec-fetch-site': site, origin: 'https://kubeflow.example.com', host: 'kubeflow.example.com' }), false, `${site}, whatever Origin says`)
  }
})

t.test('without it, the Origin must name the host asked', async (t) => {
  const cases: [name: string, headers: Record<string, string>, expected: boolean][] = [
    ['the same host', { origin: 'https://kubeflow.example.com', host: 'kubeflow.example.com' }, true],
    ['the same host and port', { origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' }, true],
    ['another host', { origin: 'https://evil.example', host: 'kubeflow.example.com' }, false],
    ['another port', { origin: 'http://127.0.0.1:9999', host: '127.0.0.1:8080' }, false],
    ['an opaque origin', { origin: 'null', host: 'kubeflow.example.com' }, false],
    ['no Origin', { host: 'kubeflow.example.com' }, false],
    ['no Host', { origin: 'https://kubeflow.example.com' }, false],
  ]
  for (const [name, headers, expected] of cases) t.equal(fromSameOrigin(headers), expected, name)
})
