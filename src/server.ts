#!/usr/bin/env node
/**
 * The process entry (`authservice [command]`): the only place that reads the environment and the
 * filesystem for config, listens, handles signals and exits. The command line (cli/main.ts) picks
 * the command; `serve`, the default, is serve() below: an invalid configuration stops the process
 * before it listens, with every problem listed; SIGTERM drains in-flight checks and exits 0
 * (Kubernetes rolling updates).
 */
import { readFileSync } from 'node:fs'
import { readFirstLine } from './cli/hash-password.js'
import { runCli, type CliIo } from './cli/main.js'
import { systemClock } from './clock.js'
import { loadConfig } from './config/load.js'
import { ConfigError } from './errors.js'
import { bufferedStdout, createLogger } from './log/logger.js'
import { createService, type KubernetesCredentials } from './service.js'

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

function kubernetesCredentials(): KubernetesCredentials | undefined {
  if (!process.env.KUBERNETES_SERVICE_HOST) return undefined
  return { token: () => readOptional(`${SERVICE_ACCOUNT_DIR}/token`), ca: readOptional(`${SERVICE_ACCOUNT_DIR}/ca.crt`) }
}

/** `authservice serve`: the service, as it has always run. */
async function serve(): Promise<void> {
  let loaded
  try {
    loaded = loadConfig(process.env, (path) => readFileSync(path, 'utf8'))
  } catch (error) {
    const bootLogger = createLogger('info')
    if (error instanceof ConfigError) {
      bootLogger.fatal({ code: error.code, problems: error.problems }, error.message)
    } else {
      bootLogger.fatal({ err: error }, 'could not load the configuration')
    }
    process.exitCode = 1
    return
  }
  const { config, warnings } = loaded
  // The one buffered output of the process (its flush timer and exit flush belong to the entry).
  const logger = createLogger(config.logLevel, bufferedStdout())
  for (const warning of warnings) logger.warn(warning)

  const service = createService(config, {
    logger,
    clock: systemClock,
    fetch: (url, init) => fetch(url, init),
    kubernetes: kubernetesCredentials(),
  })
  const host = config.serverHostname || '0.0.0.0'
  await service.checkApp.listen({ host, port: config.serverPort })
  // Its own address (READINESS_PROBE_HOSTNAME): kubelet probes the pod IP even when SERVER_HOSTNAME is loopback.
  await service.opsApp.listen({ host: config.readinessProbeHostname || '0.0.0.0', port: config.readinessProbePort })
  // gRPC mode (Istio envoyExtAuthzGrpc): the same check behind envoy.service.auth.v3.Authorization.
  // Loaded only when GRPC_PORT asks for it: @grpc/grpc-js and the protos add ~80 ms to every start
  // (start-to-ready, npm run bench -- --only=startup).
  const grpc =
    config.grpcPort === undefined
      ? undefined
      : (await import('./grpc/server.js')).createGrpcServer({ handle: service.handle, logger, isReady: () => service.isReady() })
  if (grpc && config.grpcPort !== undefined) await grpc.listen(host, config.grpcPort)
  void service.startIssuers()

  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    logger.info({ signal }, 'shutting down: finishing in-flight checks')
    Promise.all([grpc?.close(), service.close()]).then(
      () => {
        logger.info('stopped')
        process.exitCode = 0
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping')
        process.exitCode = 1
      },
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** All of a stream (standard input for `explain -H @-`), as UTF-8. */
async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) text += chunk.toString()
  return text
}

/** The real outside world for the commands other than serve. */
function processIo(): CliIo {
  return {
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
    fetch: (url, init) => fetch(url, init),
    version: packageVersion(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readLine: (prompt) => {
      if (process.stdin.isTTY) process.stderr.write(prompt)
      return readFirstLine(process.stdin)
    },
    readStdin: () => readAll(process.stdin),
    clock: systemClock,
    kubernetes: kubernetesCredentials(),
  }
}

async function main(): Promise<void> {
  const outcome = await runCli(process.argv.slice(2), processIo())
  if (outcome === 'serve') await serve()
  else process.exitCode = outcome
}

void main()
