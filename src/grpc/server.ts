/**
 * The gRPC ext_authz server (Envoy `grpc_service`): envoy.service.auth.v3.Authorization/Check
 * answered by the SAME transport-free handler as the HTTP mode (check/handle.ts), plus the
 * standard gRPC health service. Plaintext HTTP/2, which is what Envoy's `envoy_grpc` speaks.
 *
 * Never an RPC error for a decision: a failed RPC is an Error to Envoy, which a fail-open
 * (failure_mode_allow) gateway lets through (envoy-ext-authz.md §2.2). A bug in the handler is
 * logged and answered with CHECK_FAILED_REPLY (check/respond.ts), as the HTTP mode's error handler (app.ts) does.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js'
import type { FastifyBaseLogger } from 'fastify'
import { CHECK_FAILED_REPLY, type CheckReply } from '../check/respond.js'
import { toCheckRequest, type GrpcCheckRequest } from './check-request.js'
import { toCheckResponse } from './check-response.js'
import { createHealthService } from './health.js'
import type { CheckRequestMessage, CheckResponseMessage } from './messages.js'
import { loadProtos } from './protos.js'

export interface GrpcServerDependencies {
  /**
   * The transport-free check (Service['handle'], check/handle.ts): the same decision, log line,
   * metrics and login endpoints as the HTTP mode; this server only translates its reply.
   */
  readonly handle: (request: GrpcCheckRequest) => Promise<{ readonly reply: CheckReply }>
  readonly logger: FastifyBaseLogger
  /** Ready to decide (the provider's keys are loaded): the health service's SERVING. */
  readonly isReady: () => boolean
  /** How long close() lets in-flight checks finish before cutting connections; default 10 s. */
  readonly shutdownTimeoutMs?: number
}

export interface GrpcServer {
  /** Binds host:port (0 = any free port) and resolves with the bound port. */
  listen(host: string, port: number): Promise<number>
  /**
   * Stops accepting calls (a new one fails, which a fail-closed Envoy answers 403), lets in-flight
   * checks finish, then cuts what is left after the timeout.
   */
  close(): Promise<void>
}

const CHECK_FAILED_RESPONSE = toCheckResponse(CHECK_FAILED_REPLY)

/** host:port as gRPC target syntax wants it: IPv6 literals in brackets. */
export function grpcAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`
}

export function createGrpcServer(deps: GrpcServerDependencies): GrpcServer {
  const protos = loadProtos()
  const log = deps.logger.child({ transport: 'grpc' })
  const shutdownTimeoutMs = deps.shutdownTimeoutMs ?? 10_000

  async function answer(message: CheckRequestMessage): Promise<CheckResponseMessage> {
    try {
      return toCheckResponse((await deps.handle(toCheckRequest(message))).reply)
    } catch (error) {
      log.error({ err: error }, 'check failed; denying')
      return CHECK_FAILED_RESPONSE
    }
  }

  const server = new Server()
  server.addService(protos.authorization, {
    Check(call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>, callback: sendUnaryData<CheckResponseMessage>) {
      // answer() only rejects if logging itself failed; still a deny, never an RPC error.
      answer(call.request).then(
        (response) => callback(null, response),
        () => callback(null, CHECK_FAILED_RESPONSE),
      )
    },
  })
  server.addService(protos.health, createHealthService(deps.isReady))

  return {
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.bindAsync(grpcAddress(host, port), ServerCredentials.createInsecure(), (error, bound) =>
          error ? reject(error) : resolve(bound),
        )
      })
    },
    close() {
      return new Promise((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, shutdownTimeoutMs)
        server.tryShutdown(() => {
          clearTimeout(force)
          resolve()
        })
      })
    },
  }
}
