import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import type { CheckRequest } from '../../src/authz/check.js'
import type { CheckReply } from '../../src/authz/reply.js'
import { buildCheckApp } from '../../src/app.js'
import { createLogger } from '../../src/log/logger.js'
import type { Service } from '../../src/service.js'
import { runCheckScenarios } from '../helpers/check-scenarios.js'

async function serve(t: Test, service: Service, stub?: (request: CheckRequest) => CheckReply): Promise<number> {
  if (!stub) return (service.checkApp.server.address() as AddressInfo).port
  const app = buildCheckApp({ logger: createLogger('silent'), handle: async (request) => ({ reply: stub(request), outcome: 'stub', reason: 'stub' }) as never })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as AddressInfo).port
}
t.test('http table', (t) => runCheckScenarios(t, { mode: 'http', serve }))
