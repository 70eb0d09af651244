// The ext_authz filter deploy/ ships, through real Envoy against the real service and real Dex:
//  - overlays/kubeflow-legacy: the EnvoyFilter's `patch.value`, inserted VERBATIM into the
//    gateway (only the cluster it calls is swapped for the loopback one);
//  - overlays/kubeflow: the `authservice` extension provider of mesh-config/mesh.yaml, translated
//    into the filter the way istiod does (./istio-ext-authz.ts documents the translation).
// Each runs with the overlay's own rendered configuration (its ConfigMap), the Dex client settings of
// deploy/dex/dex-config.yaml, and only the cluster-specific values swapped (the issuer is the test
// Dex, the secrets are the test's). Allow, deny, skip, the login and logout all go through it
// (./wiring-through-envoy.ts; the Helm chart's renders run the same scenarios: helm-chart.test.ts).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { extAuthzFilterFromEnvoyFilter } from '../helpers/envoy.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { extAuthzFilterFromExtensionProvider, type EnvoyExtAuthzHttpProvider } from './istio-ext-authz.js'
import { DEPLOY, kustomizeBuild, parseObjects, type KubeObject } from './kustomize.js'
import { runWiringThroughEnvoy } from './wiring-through-envoy.js'

const skip = skipUnlessPeers('kustomize', 'dex', 'envoy')

interface Wiring {
  title: string
  overlay: string
  /** The ext_authz filter as the gateway gets it, calling the test's cluster `authservice`. */
  filter(objects: KubeObject[]): Record<string, unknown>
}

const WIRINGS: Wiring[] = [
  {
    title: 'overlays/kubeflow-legacy: the rendered EnvoyFilter, verbatim',
    overlay: 'kubeflow-legacy',
    filter: (objects) => extAuthzFilterFromEnvoyFilter(objects, { cluster: 'authservice' }),
  },
  {
    title: 'overlays/kubeflow: the extension provider, as istiod translates it',
    overlay: 'kubeflow',
    filter(objects) {
      const policy = objects.find((object) => object.kind === 'AuthorizationPolicy') as { spec: { provider: { name: string } } } | undefined
      if (!policy) throw new Error('overlays/kubeflow renders no AuthorizationPolicy')
      const mesh = parseYaml(readFileSync(join(DEPLOY, 'components', 'istio-ext-authz', 'mesh-config', 'mesh.yaml'), 'utf8')) as {
        extensionProviders: Array<{ name: string; envoyExtAuthzHttp?: EnvoyExtAuthzHttpProvider }>
      }
      const provider = mesh.extensionProviders.find((entry) => entry.name === policy.spec.provider.name)?.envoyExtAuthzHttp
      if (!provider) throw new Error(`no envoyExtAuthzHttp provider named ${policy.spec.provider.name} in mesh.yaml`)
      return extAuthzFilterFromExtensionProvider(provider, { cluster: 'authservice' })
    },
  },
]

for (const wiring of WIRINGS) {
  t.test(wiring.title, { skip }, async (t) => {
    const objects = parseObjects(await kustomizeBuild(join(DEPLOY, 'overlays', wiring.overlay)))
    await runWiringThroughEnvoy(t, { objects, filter: wiring.filter(objects), signOut: wiring.overlay === 'kubeflow' ? 'sign_out' : 'logout' })
  })
}
