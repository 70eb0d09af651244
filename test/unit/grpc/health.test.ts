/** grpc.health.v1 Check: SERVING while ready, NOT_SERVING otherwise, NOT_FOUND for unknown services. */
import t from 'tap'
import { status, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js'
import { createHealthService } from '../../../src/grpc/health.js'
import type { HealthCheckRequestMessage, HealthCheckResponseMessage } from '../../../src/grpc/messages.js'

function ask(ready: boolean, request: HealthCheckRequestMessage) {
  let answer: { error: Partial<ServiceError> | null; value?: HealthCheckResponseMessage } | undefined
  createHealthService(() => ready).Check({ request } as ServerUnaryCall<HealthCheckRequestMessage, HealthCheckResponseMessage>, (error, value) => {
    answer = { error, value: value ?? undefined }
  })
  return answer!
}

t.test('the server as a whole and the ext_authz service follow readiness', async (t) => {
  for (const service of [undefined, '', 'envoy.service.auth.v3.Authorization']) {
    t.same(ask(true, { service }), { error: null, value: { status: 'SERVING' } }, `${service} ready`)
    t.same(ask(false, { service }), { error: null, value: { status: 'NOT_SERVING' } }, `${service} not ready`)
  }
})

t.test('an unknown service is NOT_FOUND, as the health-checking protocol requires', async (t) => {
  const { error } = ask(true, { service: 'some.Other' })
  t.equal(error?.code, status.NOT_FOUND)
  t.match(error?.details, /unknown service "some\.Other"/)
})
