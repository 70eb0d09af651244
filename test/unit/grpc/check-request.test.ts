/** Envoy's gRPC CheckRequest → the checker's request: method, path + query, lower-case headers, host, scheme. */
import t from 'tap'
import { toCheckRequest } from '../../../src/grpc/check-request.js'
import type { CheckRequestMessage } from '../../../src/grpc/messages.js'
import { loadProtos } from '../../../src/grpc/protos.js'

const http = (fields: NonNullable<NonNullable<CheckRequestMessage['attributes']>['request']>['http']): CheckRequestMessage => ({
  attributes: { request: { http: fields } },
})

/** What grpc-js hands the handler: the message through the wire and back with the server's protos. */
function throughTheWire(message: CheckRequestMessage): CheckRequestMessage {
  const { Check } = loadProtos().authorization
  return Check!.requestDeserialize(Check!.requestSerialize(message)) as CheckRequestMessage
}

t.test('method, path with query, headers and host as Envoy sends them (headers map)', async (t) => {
  const request = toCheckRequest(
    throughTheWire(
      http({
        id: '42',
        method: 'POST',
        path: '/notebook/alice/lab?tab=1',
        host: 'kubeflow.example.com',
        scheme: 'https',
        protocol: 'HTTP/2',
        headers: { ':authority': 'kubeflow.example.com', ':path': '/notebook/alice/lab?tab=1', authorization: 'Bearer x.y.z', Accept: 'application/json' },
      }),
    ),
  )
  t.equal(request.method, 'POST')
  t.equal(request.target, '/notebook/alice/lab?tab=1', 'path already carries the query')
  t.equal(request.scheme, 'https')
  t.equal(request.headers.authorization, 'Bearer x.y.z')
  t.equal(request.headers.accept, 'application/json', 'header names are lower-cased')
  t.equal(request.headers.host, 'kubeflow.example.com', 'the host field becomes the host header, as in HTTP mode')
})

t.test('a host header Envoy forwarded wins over the host field', async (t) => {
  const request = toCheckRequest(http({ method: 'GET', path: '/', host: 'field.example', headers: { host: 'header.example' } }))
  t.equal(request.headers.host, 'header.example')
})

t.test('with encode_raw_headers the headers come from header_map (raw_value bytes, duplicates kept)', async (t) => {
  const request = toCheckRequest(
    throughTheWire(
      http({
        method: 'GET',
        path: '/x',
        header_map: {
          headers: [
            { key: 'Authorization', raw_value: Buffer.from('Bearer raw.token.value') },
            { key: 'cookie', raw_value: Buffer.from('a=1') },
            { key: 'cookie', raw_value: Buffer.from('b=2') },
            { key: 'x-forwarded-for', value: '10.0.0.1' },
            { key: 'x-forwarded-for', value: '10.0.0.2' },
            { key: 'x-empty' },
            { value: 'no name' },
          ],
        },
      }),
    ),
  )
  t.equal(request.headers.authorization, 'Bearer raw.token.value', 'raw_value is read as UTF-8')
  t.equal(request.headers.cookie, 'a=1; b=2', 'cookies join with "; " so each stays readable')
  t.equal(request.headers['x-forwarded-for'], '10.0.0.1,10.0.0.2', 'other duplicates join with ","')
  t.equal(request.headers['x-empty'], '', 'a header without a value is empty')
  t.same(Object.keys(request.headers).sort(), ['authorization', 'cookie', 'x-empty', 'x-forwarded-for'], 'a header without a name is dropped')
})

t.test('the headers map wins over header_map when both are present', async (t) => {
  const request = toCheckRequest(http({ path: '/', headers: { a: 'map' }, header_map: { headers: [{ key: 'a', value: 'raw' }] } }))
  t.equal(request.headers.a, 'map')
})

t.test('pseudo-headers stand in for missing method and path fields', async (t) => {
  const request = toCheckRequest(http({ headers: { ':method': 'DELETE', ':path': '/api/x?y=1' } }))
  t.equal(request.method, 'DELETE')
  t.equal(request.target, '/api/x?y=1')
})

t.test('a query in its own field is appended, unless the path already has one', async (t) => {
  t.equal(toCheckRequest(http({ path: '/p', query: 'a=1' })).target, '/p?a=1')
  t.equal(toCheckRequest(http({ path: '/p?b=2', query: 'a=1' })).target, '/p?b=2')
})

t.test('an empty request maps to an empty method and "/" (which the checker denies)', async (t) => {
  for (const message of [{}, { attributes: {} }, { attributes: { request: {} } }, http({})]) {
    const request = toCheckRequest(message)
    t.equal(request.method, '')
    t.equal(request.target, '/')
    t.same({ ...request.headers }, {})
    t.notOk('scheme' in request, 'no scheme when Envoy sent none')
  }
})

t.test('client-chosen header names never reach Object.prototype', async (t) => {
  const request = toCheckRequest(http({ path: '/', headers: { __proto__: 'x', 'x-a': '1' } as unknown as Record<string, string> }))
  t.equal(request.headers.constructor, undefined, 'no inherited constructor')
  t.equal(request.headers.toString, undefined, 'no inherited toString')
})
