/**
 * A gRPC client of our ext_authz and health services, built on the same protos as the server (as
 * Envoy's is on upstream's: same package names and field numbers), plus a bare Authorization server
 * answering whatever a test wants — to show what Envoy does with a response we never send.
 */
import { credentials, makeClientConstructor, Server, ServerCredentials, type Client, type ServiceError } from '@grpc/grpc-js'
import type { CheckRequestMessage } from '../../src/grpc/messages.js'
import { loadProtos } from '../../src/grpc/protos.js'

export interface DecodedHeaderOption {
  header?: { key?: string; value?: string }
  append?: { value?: boolean }
  append_action?: string
}

/** A CheckResponse as a client decodes it (every field may be absent). */
export interface DecodedCheckResponse {
  status?: { code?: number; message?: string }
  http_response?: 'ok_response' | 'denied_response'
  ok_response?: { headers?: DecodedHeaderOption[]; headers_to_remove?: string[]; response_headers_to_add?: DecodedHeaderOption[] }
  denied_response?: { status?: { code?: number }; headers?: DecodedHeaderOption[]; body?: string }
}

export interface GrpcTestClient {
  check(request: CheckRequestMessage): Promise<DecodedCheckResponse>
  health(service?: string): Promise<{ status?: string }>
  close(): void
}

type Unary = (request: object, callback: (error: ServiceError | null, response: unknown) => void) => void

function call<T>(client: Client, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, Unary>)[method]!.bind(client)
    fn(request, (error, response) => (error ? reject(error) : resolve(response as T)))
  })
}

export function grpcClient(port: number): GrpcTestClient {
  const protos = loadProtos()
  const address = `127.0.0.1:${port}`
  const Authorization = makeClientConstructor(protos.authorization, 'Authorization')
  const Health = makeClientConstructor(protos.health, 'Health')
  const authorization = new Authorization(address, credentials.createInsecure())
  const health = new Health(address, credentials.createInsecure())
  return {
    check: (request) => call(authorization, 'Check', request),
    health: (service = '') => call(health, 'Check', { service }),
    close() {
      authorization.close()
      health.close()
    },
  }
}

/** The request Envoy would send for `method target` with these headers (gRPC mode, allowed_headers). */
export function envoyCheckRequest(method: string, target: string, headers: Record<string, string> = {}): CheckRequestMessage {
  return {
    attributes: {
      request: {
        http: {
          id: '1',
          method,
          path: target,
          host: 'kubeflow.example.com',
          scheme: 'http',
          protocol: 'HTTP/1.1',
          headers: { ':authority': 'kubeflow.example.com', ':method': method, ':path': target, ...headers },
        },
      },
    },
  }
}

/** A bare Authorization server answering every Check with `response` as given (e.g. `{}`). */
export async function startStubAuthorizationServer(response: object): Promise<{ port: number; close(): Promise<void> }> {
  const server = new Server()
  server.addService(loadProtos().authorization, {
    Check: (_call: unknown, callback: (error: null, value: object) => void) => callback(null, response),
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  )
  return { port, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) }
}
