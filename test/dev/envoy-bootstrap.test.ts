// The gateway bootstrap the tests, the local demo and the benchmark run (test/helpers/envoy-bootstrap.ts;
// test/helpers/envoy.ts re-exports it).
import t from 'tap'
import {
  CHECK_REQUEST_HEADERS,
  gatewayBootstrap,
  grpcExtAuthzFilter,
  httpExtAuthzFilter,
} from '../helpers/envoy-bootstrap.js'

type Json = Record<string, any>

const hcm = (bootstrap: Json): Json => bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config

t.test('HTTP mode: ext_authz on every route, /dex to the IdP, the rest upstream, an admin listener', async (t) => {
  const bootstrap = gatewayBootstrap({ authz: { mode: 'http', port: 8080 }, upstreamPort: 8090, dexPort: 5556, listenPort: 8000, adminPort: 9901 }) as Json
  t.same(bootstrap.admin, { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } })
  t.equal(bootstrap.static_resources.listeners[0].address.socket_address.port_value, 8000)
  const manager = hcm(bootstrap)
  t.same(manager.route_config.virtual_hosts[0].routes, [
    { match: { path_separated_prefix: '/dex' }, route: { cluster: 'dex' } },
    { match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '30s' } },
  ])
  t.equal(manager.normalize_path, true)
  const [filter, router] = manager.http_filters
  t.same(filter, httpExtAuthzFilter('authservice'))
  t.equal(router.name, 'envoy.filters.http.router')
  t.same(
    filter.typed_config.http_service.authorization_request.allowed_headers.patterns.map((pattern: Json) => pattern.exact),
    CHECK_REQUEST_HEADERS,
  )
  t.equal(filter.typed_config.failure_mode_allow, false)
  const clusters = Object.fromEntries(bootstrap.static_resources.clusters.map((cluster: Json) => [cluster.name, cluster]))
  t.same(Object.keys(clusters), ['upstream', 'authservice', 'dex'])
  t.equal(clusters.authservice.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 8080)
  t.notOk(clusters.authservice.typed_extension_protocol_options, 'HTTP/1.1 to the check')
  t.equal(clusters.dex.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, 5556)
})

t.test('gRPC mode talks HTTP/2 to the check; no admin, no /dex route, a given filter, or none', async (t) => {
  const grpc = gatewayBootstrap({ authz: { mode: 'grpc', port: 9090 }, upstreamPort: 1, listenPort: 2 }) as Json
  t.notOk('admin' in grpc, 'no admin listener without adminPort')
  t.same(hcm(grpc).http_filters[0], grpcExtAuthzFilter('authservice'))
  t.same(hcm(grpc).route_config.virtual_hosts[0].routes, [{ match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '30s' } }])
  const authz = grpc.static_resources.clusters.find((cluster: Json) => cluster.name === 'authservice')
  t.ok(authz.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options)
  t.equal(grpc.static_resources.clusters.length, 2)

  const custom = { name: 'envoy.filters.http.ext_authz', typed_config: { custom: true } }
  t.same(hcm(gatewayBootstrap({ authz: { mode: 'http', port: 1 }, upstreamPort: 1, listenPort: 2, extAuthzFilter: custom }) as Json).http_filters[0], custom)
  const bare = hcm(gatewayBootstrap({ authz: { mode: 'http', port: 1 }, upstreamPort: 1, listenPort: 2, withoutExtAuthz: true }) as Json)
  t.same(bare.http_filters.map((filter: Json) => filter.name), ['envoy.filters.http.router'])
})

t.test('the filters: timeouts and the header lists', async (t) => {
  const http = httpExtAuthzFilter('c', '2s') as Json
  t.same(http.typed_config.http_service.server_uri, { uri: 'http://c', cluster: 'c', timeout: '2s' })
  t.same(http.typed_config.http_service.authorization_response.allowed_client_headers_on_success, { patterns: [{ exact: 'set-cookie' }] })
  const grpc = grpcExtAuthzFilter('c', '3s') as Json
  t.same(grpc.typed_config.grpc_service, { envoy_grpc: { cluster_name: 'c' }, timeout: '3s' })
  t.same(grpc.typed_config.allowed_headers.patterns.slice(0, 4).map((pattern: Json) => pattern.exact), [':authority', ':method', ':path', ':scheme'])
})
