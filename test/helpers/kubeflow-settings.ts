/**
 * The two Kubeflow settings the end-to-end tests run (kubeflow-settings.test.ts, user-page.test.ts),
 * each with the configuration its rendered overlay gives the pod (real `kustomize build`) and the
 * ext_authz filter the gateway gets from it:
 *  - Kubeflow 1.8: overlays/kubeflow-legacy (EnvoyFilter; it includes components/kubernetes-tokens);
 *  - Kubeflow ≥ 1.9: overlays/kubeflow with components/kubernetes-tokens added, as an operator adds it
 *    for m2m (the extension provider translated the way istiod does).
 * And what both do with them: Dex with the overlay's registered client, the browser's sign-in.
 */
import type { Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { parse as parseYaml } from 'yaml'
import { startAuthservice, type RunningAuthservice } from './authservice.js'
import { launchBrowser } from './browser.js'
import { startDex, type Dex } from './dex.js'
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from './echo-upstream.js'
import { extAuthzFilterFromEnvoyFilter, startEnvoy, type Envoy } from './envoy.js'
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver.js'
import { extAuthzFilterOfRenderedPolicy } from '../deploy/istio-ext-authz.js'
import { DEPLOY, kustomizeBuild, kustomizeBuildOf, parseObjects, podEnv, type KubeObject } from '../deploy/kustomize.js'

/** Dex's static user (test/helpers/dex.ts). */
export const USER = { email: 'alice@example.com', password: 'alice-password', groups: 'kubeflow-admins,team-a' }

export interface Setting {
  title: string
  render(): Promise<string>
  filter(objects: KubeObject[]): Record<string, unknown>
  /** Where the dashboard of this Kubeflow POSTs its logout, under AUTHSERVICE_URL_PREFIX. */
  postLogout: 'logout' | 'sign_out'
}

export const SETTINGS: Setting[] = [
  {
    title: 'Kubeflow 1.8: overlays/kubeflow-legacy (EnvoyFilter)',
    render: () => kustomizeBuild(join(DEPLOY, 'overlays', 'kubeflow-legacy')),
    filter: (objects) => extAuthzFilterFromEnvoyFilter(objects, { cluster: 'authservice' }),
    postLogout: 'logout',
  },
  {
    title: 'Kubeflow ≥ 1.9: overlays/kubeflow + components/kubernetes-tokens (extension provider)',
    render: () => kustomizeBuildOf({ resources: [join(DEPLOY, 'overlays', 'kubeflow')], components: [join(DEPLOY, 'components', 'kubernetes-tokens')] }),
    filter: (objects) => extAuthzFilterOfRenderedPolicy(objects, { cluster: 'authservice' }),
    postLogout: 'sign_out',
  },
]

export const headerValues = (echoed: EchoedRequest | undefined, name: string) =>
  (echoed?.headerLines ?? []).filter(([header]) => header === name).map(([, value]) => value)

/** Fills in Dex's login form and waits until the browser is back on `path` of the gateway. */
export async function signIn(page: Page, gateway: string, path: string): Promise<void> {
  await page.fill('input[name="login"]', USER.email)
  await page.fill('input[name="password"]', USER.password)
  await Promise.all([page.waitForURL(`${gateway}${path}`), page.click('#submit-login')])
}

/** Dex with the client that deploy/dex/dex-config.yaml registers for this overlay's CLIENT_ID. */
export async function dexFor(t: Test, clientId: string): Promise<Dex> {
  type DexConfig = { staticClients: Array<{ id: string; redirectURIs: string[] }> }
  const registered = (parseYaml(readFileSync(join(DEPLOY, 'dex', 'dex-config.yaml'), 'utf8')) as DexConfig).staticClients
  const client = registered.find((candidate) => candidate.id === clientId)
  if (!client) throw new Error(`deploy/dex/dex-config.yaml registers no client ${clientId}`)
  const dex = await startDex({ clientId, redirectURIs: client.redirectURIs })
  t.teardown(() => dex.stop())
  return dex
}


export interface RunningSetting {
  /** The pod's environment as the overlay renders it. */
  readonly rendered: Record<string, string | undefined>
  readonly prefix: string
  readonly cookieName: string
  readonly dex: Dex
  readonly kube: KubeApiServer
  readonly upstream: EchoUpstream
  readonly authservice: RunningAuthservice
  readonly envoy: Envoy
  readonly context: BrowserContext
  readonly page: Page
  /** The browser's session cookie, if it has one. */
  sessionCookie(): Promise<{ name: string; value: string } | undefined>
}

/**
 * A setting running end to end, stopped with `t`: the overlay's configuration with only what points
 * at a cluster swapped (the issuer, the secrets, the API server) and `env` on top, Dex, our test API
 * server, the echo upstream, Envoy with the overlay's filter, and a Chromium page.
 */
export async function startSetting(t: Test, setting: Setting, env: Record<string, string> = {}): Promise<RunningSetting> {
  const objects = parseObjects(await setting.render())
  const { env: rendered } = podEnv(objects)
  const dex = await dexFor(t, rendered.CLIENT_ID!)
  const kube = await startKubeApiServer()
  t.teardown(() => kube.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const secrets = { OIDC_PROVIDER: dex.issuer, CLIENT_SECRET: dex.clientSecret, SESSION_SECRETS: Buffer.alloc(32, 7).toString('base64') }
  const authservice = await startAuthservice({ ...(rendered as Record<string, string>), ...secrets, ...env }, { kubernetes: kube.credentials })
  t.teardown(() => authservice.close())
  const envoy = await startEnvoy({ authz: { mode: 'http', port: authservice.checkPort }, upstreamPort: upstream.port, dexPort: dex.port, extAuthzFilter: setting.filter(objects) })
  t.teardown(() => envoy.stop())
  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 820, height: 760 } })
  const page = await context.newPage()
  const cookieName = rendered.SESSION_COOKIE_NAME ?? 'authservice_session'
  const sessionCookie = async () => (await context.cookies()).find((cookie) => cookie.name === cookieName)
  return { rendered, prefix: rendered.AUTHSERVICE_URL_PREFIX!, cookieName, dex, kube, upstream, authservice, envoy, context, page, sessionCookie }
}
