/**
 * The hand-trimmed protos: they load, they name the services Envoy and health probers call, and
 * every field we rely on has upstream's number (a wrong number would silently read nothing).
 */
import t from 'tap'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AUTHORIZATION_SERVICE, HEALTH_SERVICE, loadProtos, PROTO_DIR } from '../../../src/grpc/protos.js'

interface Descriptor {
  name: string
  field?: Array<{ name: string; number: number }>
  nestedType?: Descriptor[]
  enumType?: Array<{ name: string; value: Array<{ name: string; number: number }> }>
}

const protos = loadProtos()
const message = (name: string) => (protos.definition[name] as unknown as { type: Descriptor }).type
const numbers = (descriptor: Descriptor) => Object.fromEntries((descriptor.field ?? []).map((field) => [field.name, field.number]))
const nested = (descriptor: Descriptor, name: string) => descriptor.nestedType!.find((type) => type.name === name)!

t.test('the services are the ones Envoy and health probes call', async (t) => {
  t.equal(protos.authorization.Check!.path, '/envoy.service.auth.v3.Authorization/Check')
  t.equal(protos.health.Check!.path, '/grpc.health.v1.Health/Check')
  t.equal(AUTHORIZATION_SERVICE, 'envoy.service.auth.v3.Authorization')
  t.equal(HEALTH_SERVICE, 'grpc.health.v1.Health')
  t.match(PROTO_DIR, /[/\\]grpc[/\\]proto$/, 'the protos live beside the module')
})

t.test('field numbers are upstream\'s (data-plane-api external_auth, attribute_context, base, http_status; googleapis status)', async (t) => {
  t.same(numbers(message('envoy.service.auth.v3.CheckRequest')), { attributes: 1 })
  const attributes = message('envoy.service.auth.v3.AttributeContext')
  t.same(numbers(attributes), { request: 4, context_extensions: 10 })
  t.same(numbers(nested(attributes, 'Request')), { time: 1, http: 2 })
  t.same(numbers(nested(attributes, 'HttpRequest')), {
    id: 1, method: 2, headers: 3, path: 4, host: 5, scheme: 6, query: 7, fragment: 8, size: 9, protocol: 10, body: 11, raw_body: 12, header_map: 13,
  })
  t.same(numbers(message('envoy.service.auth.v3.CheckResponse')), { status: 1, denied_response: 2, ok_response: 3, dynamic_metadata: 4 })
  t.same(numbers(message('envoy.service.auth.v3.DeniedHttpResponse')), { status: 1, headers: 2, body: 3 })
  t.same(numbers(message('envoy.service.auth.v3.OkHttpResponse')), {
    headers: 2, dynamic_metadata: 3, headers_to_remove: 5, response_headers_to_add: 6, query_parameters_to_set: 7, query_parameters_to_remove: 8,
  })
  const option = message('envoy.config.core.v3.HeaderValueOption')
  t.same(numbers(option), { header: 1, append: 2, append_action: 3, keep_empty_value: 4 })
  t.same(
    Object.fromEntries(option.enumType![0]!.value.map((value) => [value.name, value.number])),
    { APPEND_IF_EXISTS_OR_ADD: 0, ADD_IF_ABSENT: 1, OVERWRITE_IF_EXISTS_OR_ADD: 2, OVERWRITE_IF_EXISTS: 3 },
  )
  t.same(numbers(message('envoy.config.core.v3.HeaderValue')), { key: 1, value: 2, raw_value: 3 })
  t.same(numbers(message('envoy.config.core.v3.HeaderMap')), { headers: 1 })
  t.same(numbers(message('envoy.type.v3.HttpStatus')), { code: 1 })
  t.same(numbers(message('google.rpc.Status')), { code: 1, message: 2, details: 3 })
  t.same(numbers(message('grpc.health.v1.HealthCheckRequest')), { service: 1 })
  t.same(numbers(message('grpc.health.v1.HealthCheckResponse')), { status: 1 })
})

t.test('missing protos (a build that did not copy them) fail loudly, naming the fix', async (t) => {
  const empty = mkdtempSync(join(tmpdir(), 'authservice-protos-'))
  t.teardown(() => rmSync(empty, { recursive: true, force: true }))
  t.throws(() => loadProtos(empty), { message: /gRPC protos missing .*copy src\/grpc\/proto to dist\/grpc\/proto/ })
})

t.test('a proto set without the expected service is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'authservice-protos-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(PROTO_DIR, dir, { recursive: true })
  writeFileSync(join(dir, 'grpc/health/v1/health.proto'), 'syntax = "proto3";\npackage grpc.health.v1;\nmessage Health { string x = 1; }\n')
  t.throws(() => loadProtos(dir), { message: 'grpc.health.v1.Health is not a service of the loaded protos' })
})
