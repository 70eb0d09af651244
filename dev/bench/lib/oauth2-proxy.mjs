/**
 * The benchmark's peer: oauth2-proxy, what Kubeflow >= 1.9 runs as Istio's ext_authz (issue #17 §3),
 * built by test/peers/install.sh (test/oauth2-proxy/go.mod) and started by the tests' helper
 * (test/helpers/oauth2-proxy.ts: the Kubeflow-shaped config, skip_jwt_bearer_tokens), GOMAXPROCS=1 and
 * pinned to the server core like the service. It gets the requests the service gets: the same bearer,
 * the same distinct tokens, the same junk; and for the cookie row, its own session cookie from a real
 * login through Dex (test/helpers/oauth2-proxy-login.ts). It logs one line per request, into
 * /dev/null, as the service's decision lines go.
 *
 * Each group starts its oauth2-proxy only when measured and stops it after, so one process at a time
 * shares the server core; each is checked first to really refuse and allow (401, 401, 200).
 */
import { existsSync, writeFileSync } from 'node:fs'
import { startDex } from '../../../test/helpers/dex.js'
import { OAUTH2_PROXY_CALLBACK, startOAuth2Proxy } from '../../../test/helpers/oauth2-proxy.js'
import { oauth2ProxySessionCookie } from '../../../test/helpers/oauth2-proxy-login.js'
import { peerVersion, recordedPeerPath } from '../../../test/helpers/peer-manifest.js'
import { distinctTokens } from './issuer.js'
import { benchProcess, pinTo } from './procs.js'

/** Matched by api_routes ("/apis/"): refused with 401, never redirected to the login. */
const API_PATH = '/pipeline/apis/v2beta1/runs'
const NOTE = 'oauth2-proxy (Go, GOMAXPROCS=1) configured like Kubeflow; compare its CPU per request with the service row named in `peerOf`'

/** The installed version ("v7.15.6"), or undefined when test/peers/install.sh did not build it. */
export function oauth2ProxyVersion() {
  return recordedPeerPath('oauth2-proxy') ? peerVersion('oauth2-proxy') : undefined
}

const forgedFrom = (token) => `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(256, 1).toString('base64url')}`

async function statusOf(url, headers) {
  const response = await fetch(url, { headers: { accept: 'application/json', ...headers }, signal: AbortSignal.timeout(10_000) })
  await response.arrayBuffer()
  return response.status
}

/** Throws unless the three answers are what a real check gives. */
async function mustCheck(what, url, [none, refused, allowed]) {
  const statuses = [await statusOf(url, none), await statusOf(url, refused), await statusOf(url, allowed)]
  if (statuses.join() !== '401,401,200') {
    throw new Error(`oauth2-proxy (${what}) answered ${statuses.join(', ')} to no credential, a forged one, the valid one (want 401, 401, 200)`)
  }
}

/**
 * The groups of rows, each `() => Promise<{ scenarios, close }>` whose scenarios fit run.mjs's
 * measureScenario (or carry `skipped`). `bench` holds what run.mjs has: issuer, hitToken, missFile
 * (signed here when run.mjs did not need it), missTokens, junk (the values its junk row cycles
 * through), page, headers (what Envoy adds), core (the server core).
 */
export function oauth2ProxyGroups(bench) {
  const version = oauth2ProxyVersion()
  const title = (what) => `Peer: oauth2-proxy${version ? ` ${version}` : ''}, ${what}`
  const rows = {
    hit: { name: 'oauth2-proxy-hit', title: title('valid bearer, same token'), peerOf: 'bearer-hit' },
    miss: { name: 'oauth2-proxy-miss', title: title(`valid bearer, ${bench.missTokens} distinct tokens`), peerOf: 'bearer-miss' },
    junk: { name: 'oauth2-proxy-junk', title: title('junk'), peerOf: 'junk' },
    session: { name: 'oauth2-proxy-session', title: title('session cookie'), peerOf: 'session-cookie' },
  }
  const skippedAll = (reason) => async () => ({ scenarios: Object.values(rows).map((row) => ({ ...row, skipped: reason })), close: async () => {} })
  if (!version) return [skippedAll('oauth2-proxy not installed (npm run peers)')]
  return [() => bearerGroup(bench, rows), () => sessionGroup(bench, rows.session)]
}

function scenario(row, proxy, expect, request) {
  const proc = benchProcess(proxy.peer)
  return { ...row, kind: 'http', expect, request, target: () => ({ servicePort: proxy.port, proc, note: `${NOTE} (${row.peerOf})` }) }
}

/** One oauth2-proxy against the benchmark's issuer: bearer tokens, as Kubeflow's M2M clients send them. */
async function bearerGroup(bench, rows) {
  const { issuer, hitToken, missFile, junk, page, headers } = bench
  if (!existsSync(missFile)) writeFileSync(missFile, JSON.stringify(await distinctTokens(issuer, bench.missTokens)))
  const proxy = await startOAuth2Proxy({ issuer: issuer.issuer, prefix: pinTo(bench.core), output: 'ignore' })
  try {
    await mustCheck('bearer', `${proxy.url}${API_PATH}`, [{}, { authorization: `Bearer ${forgedFrom(hitToken)}` }, { authorization: `Bearer ${hitToken}` }])
  } catch (error) {
    await proxy.stop()
    throw error
  }
  return {
    scenarios: [
      scenario(rows.hit, proxy, 200, { method: 'GET', path: page, headers: { ...headers, authorization: `Bearer ${hitToken}` } }),
      scenario(rows.miss, proxy, 200, { method: 'GET', path: page, headers: { ...headers }, cycle: { header: 'authorization', prefix: 'Bearer ', file: missFile } }),
      scenario(rows.junk, proxy, 401, {
        method: 'GET',
        path: API_PATH,
        headers: { ...headers, accept: 'application/json' },
        cycle: { header: 'authorization', prefix: 'Bearer ', values: junk },
      }),
    ],
    close: () => proxy.stop(),
  }
}

/**
 * One oauth2-proxy against real Dex (the benchmark's issuer has no login), with the session cookie
 * its own login set. Dex is stopped before measuring: with cookie_refresh = 0 (Kubeflow's) a cookie
 * check never calls the provider, and a call would show as unexpected statuses.
 */
async function sessionGroup(bench, row) {
  if (!recordedPeerPath('dex')) return { scenarios: [{ ...row, skipped: 'Dex not installed (npm run peers): no login for a session cookie' }], close: async () => {} }
  const dex = await startDex({ redirectURIs: [OAUTH2_PROXY_CALLBACK], idTokenTTL: '1h' })
  let proxy
  try {
    proxy = await startOAuth2Proxy({ issuer: dex.issuer, clientId: dex.clientId, clientSecret: dex.clientSecret, prefix: pinTo(bench.core), output: 'ignore' })
    const cookie = await oauth2ProxySessionCookie(proxy, dex)
    const tampered = cookie.replace(/=(.)/, (_, first) => `=${first === 'A' ? 'B' : 'A'}`)
    await mustCheck('session cookie', `${proxy.url}${API_PATH}`, [{}, { cookie: tampered }, { cookie }])
    const running = proxy
    return {
      scenarios: [scenario(row, running, 200, { method: 'GET', path: bench.page, headers: { ...bench.headers, cookie } })],
      close: () => running.stop(),
    }
  } catch (error) {
    await proxy?.stop()
    throw error
  } finally {
    await dex.stop()
  }
}
