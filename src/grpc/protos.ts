/**
 * Loads the hand-trimmed Envoy ext_authz and gRPC health protos (proto/, beside this module) with
 * @grpc/proto-loader. They are resolved relative to this module so the same code works from src/
 * (tests) and from dist/ — tsc does not copy .proto files, so the build must copy src/grpc/proto
 * to dist/grpc/proto. Loaded on demand, never at import.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadSync, type Options, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader'

/** Where the .proto files live: `<this module's folder>/proto`. */
export const PROTO_DIR = fileURLToPath(new URL('./proto', import.meta.url))

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization'
export const HEALTH_SERVICE = 'grpc.health.v1.Health'

const FILES = ['envoy/service/auth/v3/external_auth.proto', 'grpc/health/v1/health.proto']

/** Field names as in the .proto, enums by name, int64 as strings, absent fields left absent. */
export function loaderOptions(protoDir: string): Options {
  return { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [protoDir] }
}

export interface Protos {
  readonly definition: PackageDefinition
  readonly authorization: ServiceDefinition
  readonly health: ServiceDefinition
}

function service(definition: PackageDefinition, name: string): ServiceDefinition {
  const found = definition[name]
  // Message and enum definitions carry `format`; services are plain method maps.
  if (found === undefined || 'format' in found) throw new Error(`${name} is not a service of the loaded protos`)
  return found as ServiceDefinition
}

export function loadProtos(protoDir: string = PROTO_DIR): Protos {
  const missing = FILES.map((file) => join(protoDir, file)).filter((path) => !existsSync(path))
  if (missing.length > 0) {
    throw new Error(`gRPC protos missing (${missing.join(', ')}): the build must copy src/grpc/proto to dist/grpc/proto`)
  }
  const definition = loadSync(FILES, loaderOptions(protoDir))
  return { definition, authorization: service(definition, AUTHORIZATION_SERVICE), health: service(definition, HEALTH_SERVICE) }
}
