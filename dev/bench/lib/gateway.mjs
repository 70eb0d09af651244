/**
 * Scenario `gateway` (issue #17 §3): the CPU the WHOLE gateway spends per request on a cache-hit
 * bearer token, in the two ways Kubeflow ≥ 1.10 can verify it:
 *
 *   ext_authz  real Envoy with our ext_authz (the tests' gateway, test/helpers/envoy-bootstrap.ts) →
 *              the bench's running service; counted: Envoy + the service (both on the server core);
 *   jwt_authn  the same Envoy WITHOUT ext_authz, Envoy's own jwt_authn verifying the same token;
 *              counted: Envoy alone.
 *
 * Both route to the bench's bare baseline server as the upstream; its CPU is left out of both sums
 * (the same work either way). Closed loop with the bench's connections (50), like the service's own
 * scenarios: CPU per request is what is compared, not latency (the `envoy` scenario measures the
 * added latency at a fixed rate).
 *
 * The jwt_authn filter is what istiod makes of Kubeflow's own `dex-jwt` RequestAuthentication
 * (v1.10.0, test/fixtures/kubeflow; translation: test/deploy/istio-jwt-authn.ts), keys inlined from the
 * bench issuer's JWKS as istiod inlines them, with two changes so that it checks what our check does:
 * - `audiences: [CLIENT_ID]` (Kubeflow's rule lists none; our check requires aud = the client id);
 * - the rule requires the provider (no `allow_missing`). In Kubeflow a request without a token
 *   passes jwt_authn and is refused by the DENY AuthorizationPolicy `istio-ingressgateway-require-jwt`
 *   (notRequestPrincipals ["*"]), i.e. Istio's RBAC filter on the principal istio_authn derives, which
 *   plain Envoy lacks; requiring the provider refuses the same requests (401 here, 403 in Istio)
 *   without that filter, whose cost (a string match on metadata) is therefore not counted.
 * Envoy's JWT cache (jwt_cache_config) is not set, as in the translation: Envoy verifies the
 * signature of every request.
 *
 * Before measuring, each gateway must really check: 401 without a token, 401 with a forged
 * signature, 200 with the valid token; afterwards Envoy's own counters must show every measured
 * request went through the filter (ext_authz ok / jwt_authn allowed).
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { startEnvoy } from '../../../test/helpers/envoy.js'
import { jwtAuthnFilterFromRequestAuthentication } from '../../../test/deploy/istio-jwt-authn.js'
import { CLIENT_ID } from './issuer.js'
import { benchProcess } from './procs.js'
import { medianRun } from './report.mjs'

const DEX_JWT = new URL(
  '../../../test/fixtures/kubeflow/v1.10.0/common/oauth2-proxy/components/istio-external-auth/requestauthentication.dex-jwt.yaml',
  import.meta.url,
)

/** Kubeflow's dex-jwt as Envoy's jwt_authn for `issuer`, refusing a request without the token (see above). */
export function requiredJwtAuthnFilter(issuer) {
  const requestAuthentication = parse(readFileSync(DEX_JWT, 'utf8'))
  for (const rule of requestAuthentication.spec.jwtRules) rule.audiences = [CLIENT_ID]
  const filter = jwtAuthnFilterFromRequestAuthentication(requestAuthentication, { issuer: issuer.issuer, jwks: issuer.jwks() })
  const providers = Object.keys(filter.typed_config.providers)
  const requires = providers.length === 1 ? { provider_name: providers[0] } : { requires_any: { requirements: providers.map((name) => ({ provider_name: name })) } }
  filter.typed_config.rules = [{ match: { prefix: '/' }, requires }]
  return filter
}

/** Envoy's counters under `http.ingress_http.<filter>.` from its admin stats. */
async function filterStats(envoy, filter) {
  const text = await (await fetch(`${envoy.adminUrl}/stats?filter=${filter}`, { signal: AbortSignal.timeout(5_000) })).text()
  const stats = {}
  for (const line of text.split('\n')) {
    const match = new RegExp(`^http\\.ingress_http\\.${filter}\\.(\\w+): (\\d+)$`).exec(line.trim())
    if (match) stats[match[1]] = Number(match[2])
  }
  return stats
}

/** Throws unless the gateway refuses no token and a forged one (401) and lets the valid one through (200). */
async function assertChecks(label, port, path, token) {
  const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`
  // accept: application/json: an API call, which our check refuses with 401 rather than a login redirect.
  const status = async (authorization) =>
    (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) }, signal: AbortSignal.timeout(5_000) })).status
  const statuses = [await status(undefined), await status(`Bearer ${forged}`), await status(`Bearer ${token}`)]
  if (statuses.join() !== '401,401,200') {
    throw new Error(`${label} answered ${statuses.join(', ')} to no token, a forged token, the valid token (want 401, 401, 200)`)
  }
  return statuses
}

/**
 * Measures both gateways; `ctx` is run.mjs's context plus what this needs of it:
 * { opts, generator, service, baseline, issuer, hitToken, path, pinned (the server core's prefix),
 *   runSize, alternate, log }. Returns the summary that report.mjs's gatewayMarkdown prints.
 */
export async function measureGateway(ctx) {
  const { opts, generator, service, baseline, issuer, hitToken, path, pinned, runSize, alternate, log } = ctx
  const common = { authz: { mode: 'http', port: service.checkPort }, upstreamPort: baseline.httpPort, prefix: pinned }
  const extAuthz = await startEnvoy(common)
  const jwtAuthn = await startEnvoy({ ...common, withoutExtAuthz: true, filtersAfterExtAuthz: [requiredJwtAuthnFilter(issuer)] })
  try {
    const verified = {
      extAuthz: await assertChecks('Envoy + ext_authz + authservice', extAuthz.port, path, hitToken),
      jwtAuthn: await assertChecks('Envoy + jwt_authn', jwtAuthn.port, path, hitToken),
    }
    const request = { method: 'GET', path, headers: { authorization: `Bearer ${hitToken}` } }
    const spec = (port) => ({ kind: 'http', connections: opts.connections, request, port, expect: 200 })
    log('gateway: warm-up')
    await generator.run({ ...spec(extAuthz.port), ...runSize(opts, { warm: true }) })
    await generator.run({ ...spec(jwtAuthn.port), ...runSize(opts, { warm: true }) })
    const before = { ok: (await extAuthz.extAuthzStats()).ok ?? 0, allowed: (await filterStats(jwtAuthn, 'jwt_authn')).allowed ?? 0 }
    const extAuthzEnvoy = benchProcess(extAuthz.peer)
    const [jwtRuns, extRuns] = await alternate(ctx, 'gateway', [
      { label: 'Envoy + jwt_authn', spec: { ...spec(jwtAuthn.port), ...runSize(opts) }, procs: [benchProcess(jwtAuthn.peer)] },
      { label: 'Envoy + ext_authz + authservice', spec: { ...spec(extAuthz.port), ...runSize(opts) }, procs: [extAuthzEnvoy, service.proc] },
    ])
    const counted = {
      extAuthzOk: ((await extAuthz.extAuthzStats()).ok ?? 0) - before.ok,
      jwtAuthnAllowed: ((await filterStats(jwtAuthn, 'jwt_authn')).allowed ?? 0) - before.allowed,
    }
    const sum = (runs) => runs.reduce((total, run) => total + run.completed, 0)
    if (counted.extAuthzOk < sum(extRuns) || counted.jwtAuthnAllowed < sum(jwtRuns)) {
      throw new Error(`gateway: Envoy's filters counted ${JSON.stringify(counted)} for ${sum(extRuns)} / ${sum(jwtRuns)} requests: not every request was checked`)
    }
    const ext = medianRun(extRuns)
    const jwt = medianRun(jwtRuns)
    const summary = {
      name: 'gateway',
      title: 'Whole gateway CPU, valid bearer (same token), closed loop',
      expect: 200,
      connections: opts.connections,
      upstream: 'the bare baseline server, on the server core, excluded from both sums',
      jwtAuthnPolicy: "Kubeflow v1.10.0 dex-jwt + audiences [CLIENT_ID]; the provider required (no allow_missing) in place of Istio's require-jwt DENY policy",
      verified,
      counted,
      extAuthz: ext,
      jwtAuthn: jwt,
      cpuUsPerRequest: {
        extAuthzEnvoy: ext.serverCpuUsPerRequest,
        extAuthzService: ext.otherCpuUsPerRequest,
        extAuthzTotal: ext.serverCpuUsPerRequest === undefined || ext.otherCpuUsPerRequest === undefined ? undefined : ext.serverCpuUsPerRequest + ext.otherCpuUsPerRequest,
        jwtAuthnEnvoy: jwt.serverCpuUsPerRequest,
      },
      unexpected: [...extRuns, ...jwtRuns].reduce((total, run) => total + run.unexpected + run.errors + run.timeouts, 0),
      rounds: { extAuthz: extRuns, jwtAuthn: jwtRuns },
    }
    const cpu = summary.cpuUsPerRequest
    log(
      `gateway: CPU µs/req ext_authz ${cpu.extAuthzTotal?.toFixed(0)} (Envoy ${cpu.extAuthzEnvoy?.toFixed(0)} + authservice ${cpu.extAuthzService?.toFixed(0)}), ` +
        `jwt_authn ${cpu.jwtAuthnEnvoy?.toFixed(0)}; ${ext.rps.toFixed(0)} / ${jwt.rps.toFixed(0)} req/s; unexpected ${summary.unexpected}`,
    )
    return summary
  } finally {
    await extAuthz.stop()
    await jwtAuthn.stop()
  }
}
