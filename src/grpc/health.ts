/**
 * The standard gRPC health service (grpc/health/v1, doc/health-checking.md in grpc/grpc): SERVING
 * while the service can decide (the identity provider's keys are loaded, as /readyz). The empty
 * service name asks about the server as a whole; the ext_authz service may be named too; any other
 * name is NOT_FOUND, as the protocol requires.
 */
import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js'
import type { HealthCheckRequestMessage, HealthCheckResponseMessage } from './messages.js'
import { AUTHORIZATION_SERVICE } from './protos.js'

const KNOWN_SERVICES = new Set(['', AUTHORIZATION_SERVICE])

export function createHealthService(isServing: () => boolean) {
  return {
    Check(
      call: ServerUnaryCall<HealthCheckRequestMessage, HealthCheckResponseMessage>,
      callback: sendUnaryData<HealthCheckResponseMessage>,
    ): void {
      const service = call.request.service ?? ''
      if (!KNOWN_SERVICES.has(service)) {
        callback({ code: status.NOT_FOUND, details: `unknown service ${JSON.stringify(service)}` })
        return
      }
      callback(null, { status: isServing() ? 'SERVING' : 'NOT_SERVING' })
    },
  }
}
