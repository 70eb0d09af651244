// The ext_authz HTTP check (Envoy http_service, as the shipped EnvoyFilter wires it) through real
// Envoy with tokens minted by real Dex: the same scenario table the gRPC mode runs.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import { buildCheckApp } from '../../src/app.js'
import type { CheckRequest } from '../../src/check/pipeline.js'
import type { CheckReply } from '../../src/check/respond.js'
import { createLogger } from '../../src/log/logger.js'
import type { Service } from '../../src/service.js'
import { runCheckScenarios, type CheckTransport } from '../helpers/check-scenarios.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'

async function serveHttp(t: Test, service: Service, stub?: (request: CheckRequest) => CheckReply): Promise<number> {
  if (!stub) return (service.checkApp.server.address() as AddressInfo).port
  // Replies the service cannot be made to produce, written by the same HTTP translation.
  const app = buildCheckApp({ logger: createLogger('silent'), handle: async (request) => ({ reply: stub(request), outcome: 'stub', reason: 'stub' }) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}

const httpTransport: CheckTransport = { mode: 'http', serve: serveHttp }

t.test('the check through real Envoy (HTTP) and Dex', { skip: skipUnlessPeers('dex', 'envoy') }, (t) => runCheckScenarios(t, httpTransport))
