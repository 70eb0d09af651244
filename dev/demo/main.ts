/**
 * `npm run demo`: the process entry of the local demo (demo.ts), run as TypeScript
 * (`TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import dev/demo/main.ts`; never built
 * into dist/). Prints where to go and how to log in; SIGINT (Ctrl-C) or SIGTERM stops everything
 * and exits 0, a second one exits at once.
 */
import { DemoSetupError, startDemo, type RunningDemo } from './demo.js'
import { demoHelp, readDemoOptions } from './options.js'

function banner(demo: RunningDemo): string {
  const [user, admin] = demo.users
  const groups = (list: readonly string[]) => (list.length === 0 ? 'no groups, like Kubeflow\'s default user' : `groups: ${list.join(', ')}`)
  return [
    '',
    'authservice demo is running. DEVELOPMENT ONLY: throwaway keys, in-memory users, plain http.',
    '',
    `  Open      ${demo.url}`,
    `  Log in as ${user!.email} / ${user!.password}   (${groups(user!.groups)})`,
    `         or ${admin!.email} / ${admin!.password}   (${groups(admin!.groups)})`,
    '',
    `  Gateway   ${demo.url} — ${demo.gateway}`,
    `  Identity  ${demo.issuer} (issuer; the browser reaches its login form through the gateway at /dex)`,
    `  Service   check on 127.0.0.1:${demo.ports.DEMO_SERVER_PORT}, metrics at http://127.0.0.1:${demo.ports.DEMO_READINESS_PROBE_PORT}/metrics`,
    `  App       127.0.0.1:${demo.ports.DEMO_APP_PORT} (shows the headers the gateway passed on)`,
    ...(demo.ready ? [] : ['', '  WARNING: the service has not loaded the identity provider\'s keys yet; it keeps trying.']),
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n')
}

async function main(): Promise<void> {
  const read = readDemoOptions(process.env, process.argv.slice(2))
  if (!read.ok) {
    process.stderr.write(`demo: ${read.problems.join('\n  ')}\n\n${demoHelp()}`)
    process.exitCode = 2
    return
  }
  if (read.options.help) {
    process.stdout.write(demoHelp())
    return
  }
  let demo: RunningDemo
  try {
    demo = await startDemo(read.options, { env: process.env, info: (line) => process.stderr.write(`${line}\n`) })
  } catch (error) {
    if (error instanceof DemoSetupError) process.stderr.write(`demo: cannot start:\n  ${error.message.split('\n').join('\n  ')}\n`)
    else process.stderr.write(`demo: cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
    return
  }
  process.stdout.write(banner(demo))

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`demo: ${signal} again, exiting now\n`)
      process.exit(1)
    }
    stopping = true
    process.stderr.write(`demo: ${signal}, stopping…\n`)
    demo.close().then(
      () => {
        process.stderr.write('demo: stopped\n')
        process.exitCode = 0
      },
      (error: unknown) => {
        process.stderr.write(`demo: error while stopping: ${String(error)}\n`)
        process.exitCode = 1
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

void main()
