/** API call or browser navigation: decides between a 401 and a redirect to login. */
import t from 'tap'
import { normalizePath } from '../../../src/check/path.js'
import { createKindSignal, createRequestClassifier, type RequestKind } from '../../../src/check/request-kind.js'
import { kubeflowConfig } from '../../fixtures/config.js'

/** Kubeflow's API routes, as the configuration's defaults give them. */
const classify = createRequestClassifier(kubeflowConfig().apiRoutes)

type Headers = Record<string, string | undefined>

function request(headers: Headers, { method = 'GET', path = '/' }: { method?: string; path?: string } = {}) {
  return { method, path: normalizePath(path), headers }
}

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

t.test('headers', async (t) => {
  const cases: [name: string, headers: Headers, kind: RequestKind][] = [
    ['a bare GET (stock Kubeflow Envoy filter) is a navigation', {}, 'navigation'],
    ['only forwarded auth headers (a cookie, the dashboard\'s empty Bearer) is a navigation', { cookie: 'a=b', authorization: 'Bearer ' }, 'navigation'],
    ['a bearer credential is never a navigation: browsers never send one', { authorization: 'Bearer x' }, 'api'],
    ['the bearer scheme compares case-insensitively', { authorization: 'bEARER x' }, 'api'],
    ['a Bearer of spaces carries no credential', { authorization: 'Bearer    ' }, 'navigation'],
    ['another scheme is not a bearer credential', { authorization: 'Basic YWxpY2U6eA==' }, 'navigation'],
    ['a scheme that only starts with bearer is not one', { authorization: 'Bearerx y' }, 'navigation'],
    ['sec-fetch-mode navigate is a navigation', { 'sec-fetch-mode': 'navigate' }, 'navigation'],
    ['sec-fetch-mode compares case-insensitively', { 'sec-fetch-mode': 'Navigate' }, 'navigation'],
    ['sec-fetch-mode cors is an API call', { 'sec-fetch-mode': 'cors' }, 'api'],
    ['sec-fetch-mode no-cors is an API call', { 'sec-fetch-mode': 'no-cors' }, 'api'],
    ['sec-fetch-mode same-origin is an API call', { 'sec-fetch-mode': 'same-origin' }, 'api'],
    ['an empty sec-fetch-mode is an API call (present, not navigate)', { 'sec-fetch-mode': '' }, 'api'],
    ['sec-fetch-mode cors wins over an HTML accept', { 'sec-fetch-mode': 'cors', accept: BROWSER_ACCEPT }, 'api'],
    ['a browser accept is a navigation', { accept: BROWSER_ACCEPT }, 'navigation'],
    ['a browser navigation with sec-fetch-mode', { accept: BROWSER_ACCEPT, 'sec-fetch-mode': 'navigate' }, 'navigation'],
    ['accept text/html alone is a navigation', { accept: 'text/html' }, 'navigation'],
    ['accept media types compare case-insensitively', { accept: 'TEXT/HTML' }, 'navigation'],
    ['accept text/html with parameters is a navigation', { accept: 'application/json, text/html;q=0.1' }, 'navigation'],
    ['accept text/html with whitespace around it is a navigation', { accept: 'application/json ,\t text/html ;q=0.5' }, 'navigation'],
    ['accept */* alone (curl, python-requests) is a navigation', { accept: '*/*' }, 'navigation'],
    ['accept */* with a weight is a navigation', { accept: '*/*;q=0.8' }, 'navigation'],
    ['accept listing only */* twice is a navigation', { accept: '*/*, */*' }, 'navigation'],
    ['accept */* with empty list elements is a navigation', { accept: ', */* ,' }, 'navigation'],
    ['accept application/json is an API call', { accept: 'application/json' }, 'api'],
    ['accept application/json with */* is an API call', { accept: 'application/json, */*;q=0.1' }, 'api'],
    ['accept text/html-like types are not text/html', { accept: 'text/htmlx, text/htm' }, 'api'],
    ['accept application/xhtml+xml alone is an API call', { accept: 'application/xhtml+xml' }, 'api'],
    ['accept text/* is an API call', { accept: 'text/*' }, 'api'],
    ['an empty accept names nothing and is an API call', { accept: '' }, 'api'],
    ['an accept of only empty list elements is an API call', { accept: ' , ' }, 'api'],
    ['x-requested-with XMLHttpRequest is an API call', { 'x-requested-with': 'XMLHttpRequest' }, 'api'],
    ['x-requested-with with any value is an API call', { 'x-requested-with': '' }, 'api'],
    ['x-requested-with wins over an HTML accept', { 'x-requested-with': 'x', accept: BROWSER_ACCEPT }, 'api'],
    ['headers explicitly undefined are absent', { 'sec-fetch-mode': undefined, accept: undefined, 'x-requested-with': undefined }, 'navigation'],
  ]
  for (const [name, headers, kind] of cases) {
    t.equal(classify(request(headers)), kind, name)
  }
})

t.test('methods', async (t) => {
  const cases: [name: string, method: string, kind: RequestKind][] = [
    ['GET is a navigation', 'GET', 'navigation'],
    ['HEAD is a navigation', 'HEAD', 'navigation'],
    ['a lower-case get is a navigation', 'get', 'navigation'],
    ['a mixed-case Head is a navigation', 'Head', 'navigation'],
    ['POST is an API call', 'POST', 'api'],
    ['PUT is an API call', 'PUT', 'api'],
    ['DELETE is an API call', 'DELETE', 'api'],
    ['PATCH is an API call', 'PATCH', 'api'],
    ['OPTIONS is an API call', 'OPTIONS', 'api'],
    ['a method that only starts with GET is an API call', 'GETX', 'api'],
    ['a non-letter method is an API call', 'G@T', 'api'],
  ]
  for (const [name, method, kind] of cases) {
    t.equal(classify(request({ accept: BROWSER_ACCEPT }, { method })), kind, name)
  }
})

t.test('paths', async (t) => {
  const cases: [name: string, path: string, kind: RequestKind][] = [
    ['an API route is an API call', '/api/workgroup/env-info', 'api'],
    ['an API route matches anywhere in the path (oauth2-proxy api_routes)', '/jupyter/api/namespaces/kubeflow-user/notebooks', 'api'],
    ['the route text must be there: /api alone is not /api/', '/api', 'navigation'],
    ['a Kubernetes-style API route is an API call', '/apis/v1beta1/pipelines', 'api'],
    ['the Pipelines API behind its prefix is an API call', '/pipeline/apis/v2beta1/runs', 'api'],
    ['the ML Metadata gRPC-web service is an API call', '/ml_metadata.MetadataStoreService/GetArtifacts', 'api'],
    ['an anchored route matches only at the start', '/x/ml_metadata/y', 'navigation'],
    ['Katib\'s fetch handlers are API calls', '/katib/fetch_experiments/', 'api'],
    ['Katib\'s pages are navigations', '/katib/experiment/mnist', 'navigation'],
    ['the Pipelines UI\'s backend calls are API calls', '/pipeline/system/cluster-name', 'api'],
    ['a longer segment sharing an API route is a navigation', '/apix', 'navigation'],
    ['a different case is a navigation', '/API/x', 'navigation'],
    ['the central dashboard is a navigation', '/', 'navigation'],
    ['a UI path is a navigation', '/pipeline/', 'navigation'],
    ['dot segments climbing into an API route are an API call', '/pipeline/../api/x', 'api'],
    ['dot segments climbing out of an API route are a navigation', '/api/../pipeline', 'navigation'],
    ['an ambiguous path under an API route does not match the routes', '/api//x', 'navigation'],
  ]
  for (const [name, path, kind] of cases) {
    t.equal(classify(request({}, { path })), kind, name)
  }
})

t.test('no API routes: only headers and method decide', async (t) => {
  const noRoutes = createRequestClassifier([])
  t.equal(noRoutes(request({}, { path: '/api/x' })), 'navigation', 'a bare GET to /api/x is a navigation')
  t.equal(noRoutes(request({ accept: 'application/json' }, { path: '/api/x' })), 'api', 'a JSON accept is still an API call')
  t.equal(noRoutes(request({}, { method: 'POST' })), 'api', 'a POST is still an API call')
})

t.test('the signal that made a request an API call (what explain shows), none for a navigation', async (t) => {
  const signal = createKindSignal(kubeflowConfig().apiRoutes)
  const at = (path: string, headers: Record<string, string> = {}, method = 'GET') => signal({ method, path: normalizePath(path), headers })
  t.equal(at('/jupyter/', { 'sec-fetch-mode': 'cors' }), 'sec-fetch-mode')
  t.equal(at('/jupyter/', { 'x-requested-with': 'XMLHttpRequest' }), 'x-requested-with')
  t.equal(at('/jupyter/', { authorization: 'Bearer t' }), 'bearer')
  t.equal(at('/jupyter/', {}, 'POST'), 'method')
  t.equal(at('/jupyter/', { accept: 'application/json' }), 'accept')
  t.equal(at('/pipeline/apis/v2beta1/runs'), 'api-route')
  t.equal(at('/jupyter/', { accept: 'text/html' }), undefined)
})
