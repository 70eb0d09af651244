/**
 * `authservice <command>`: picks the command from the arguments. `serve` (or no command) is left to
 * server.ts, which runs the service as it always has; the other commands run here and resolve with
 * their exit code — 0 done, 1 the command failed, 2 a usage error (unknown command or argument).
 * Everything outside (environment, files, network, terminal) comes in through CliIo.
 */
import { checkConfig } from './check-config.js'
import { explainCommand, type ExplainIo } from './explain.js'
import { hashPassword } from './hash-password.js'
import { explainUsage, helpText, usage } from './help.js'

/** What explain needs from outside (environment, files, network, clock, streams), and what the other commands add. */
export interface CliIo extends Omit<ExplainIo, 'startTimeoutMs'> {
  readonly version: string
  /** The first line of standard input (after `prompt` on a terminal), without its line ending. */
  readLine(prompt: string): Promise<string>
}

export type CliOutcome = 'serve' | number

const HELP = new Set(['help', '--help', '-h'])
const VERSION = new Set(['version', '--version', '-v'])

function usageError(io: CliIo, message: string): number {
  io.err(`authservice: ${message}\n\n${usage()}\nRun \`authservice --help\` to see every environment variable.\n`)
  return 2
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<CliOutcome> {
  if (argv.some((arg) => arg === '--help' || arg === '-h')) {
    io.out(argv[0] === 'explain' ? explainUsage() : helpText())
    return 0
  }
  const [command, ...rest] = argv
  const noMoreThan = (count: number): number | undefined =>
    rest.length > count ? usageError(io, `${command}: unexpected argument ${JSON.stringify(rest[count])}`) : undefined

  if (command === undefined) return 'serve'
  if (HELP.has(command)) {
    io.out(helpText())
    return 0
  }
  if (VERSION.has(command)) {
    io.out(`authservice ${io.version}\n`)
    return 0
  }
  switch (command) {
    case 'serve':
      return noMoreThan(0) ?? 'serve'
    case 'check-config':
      return noMoreThan(0) ?? checkConfig(io)
    case 'explain':
      return explainCommand(rest, io)
    case 'hash-password':
      return noMoreThan(1) ?? hashPassword(rest[0], io)
    default:
      return usageError(io, `unknown command ${JSON.stringify(command)}`)
  }
}
