/**
 * The baselines the check is compared with in the same run, as a separate process:
 * - HTTP: a bare fastify server answering every GET with 200 and one header (what an allow costs
 *   when there is nothing to decide). It is also the upstream behind Envoy in the Envoy scenario.
 * - gRPC: a bare @grpc/grpc-js envoy.service.auth.v3.Authorization server answering every Check
 *   with an OK CheckResponse carrying one header.
 *
 * Usage: node dev/bench/baseline-server.mjs <httpPort> <grpcPort>   (prints "ready" when both listen)
 */
import { Server, ServerCredentials } from '@grpc/grpc-js'
import Fastify from 'fastify'
import { loadProtos } from '../../dist/grpc/protos.js'

const [httpPort, grpcPort] = process.argv.slice(2).map(Number)

const app = Fastify({ logger: false })
app.get('/*', (_request, reply) => {
  reply.header('kubeflow-userid', 'user@example.com').code(200).send()
})
await app.listen({ host: '127.0.0.1', port: httpPort })

const OK = {
  status: { code: 0 },
  ok_response: { headers: [{ header: { key: 'kubeflow-userid', value: 'user@example.com' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
}
const grpc = new Server()
grpc.addService(loadProtos().authorization, {
  Check: (_call, callback) => callback(null, OK),
})
await new Promise((resolve, reject) =>
  grpc.bindAsync(`127.0.0.1:${grpcPort}`, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())),
)

process.stdout.write('ready\n')
const stop = () => {
  grpc.forceShutdown()
  void app.close().then(() => process.exit(0))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
