/**
 * `authservice --help`: the commands, then every environment variable with its default and
 * meaning, generated from config/schema.ts's describeVariables() — the table the loader reads
 * through — so the help cannot drift from what the service actually reads.
 */
import { describeVariables, type VariableDescription } from '../config/schema.js'

export interface CommandDescription {
  readonly usage: string
  readonly summary: string
}

export const COMMANDS: readonly CommandDescription[] = [
  { usage: 'serve', summary: 'Run the service: the ext_authz check and the readiness/metrics server. The default when no command is given.' },
  { usage: 'check-config', summary: 'Validate the environment, contact the OIDC provider (discovery and keys) and print what was found; exit 0 when usable, 1 otherwise. Never prints secrets.' },
  { usage: 'hash-password [password]', summary: 'Print a bcrypt hash (cost 10) for a Dex staticPasswords entry; reads the password from standard input when it is not given (safer: it stays out of your shell history).' },
  { usage: 'help, --help, -h', summary: 'Show this help.' },
  { usage: 'version, --version', summary: 'Print the version.' },
]

const WIDTH = 100

/** Greedy word wrap of `text` to WIDTH columns, every line starting with `indent`. */
export function wrap(text: string, indent: string): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line)
      line = word
    } else {
      line = line === '' ? word : `${line} ${word}`
    }
  }
  if (line !== '') lines.push(indent + line)
  return lines
}

/** The short form: how to call it and the commands (printed with usage errors). */
export function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.usage.length))
  const lines = ['Usage: authservice [command]', '', 'Commands:']
  for (const command of COMMANDS) {
    const [first = '', ...rest] = wrap(command.summary, ' '.repeat(width + 4))
    lines.push(`  ${command.usage.padEnd(width)}  ${first.trimStart()}`, ...rest)
  }
  return `${lines.join('\n')}\n`
}

function variableHeading(variable: VariableDescription): string {
  const notes: string[] = []
  if (variable.required) notes.push('required')
  // A secret's default would be printed nowhere else either (there is none today).
  if (variable.secret) notes.push('secret')
  else if (variable.default !== undefined) notes.push(`default: ${variable.default === '' ? '""' : variable.default}`)
  return `  ${variable.name}${notes.length > 0 ? `  (${notes.join(', ')})` : ''}`
}

export function helpText(variables: readonly VariableDescription[] = describeVariables()): string {
  const lines = [
    'authservice — the authentication gate in front of Kubeflow: an Envoy ext_authz server that verifies',
    'Dex-issued JWTs and sessions and sets kubeflow-userid / kubeflow-groups (drop-in for oidc-authservice).',
    '',
    usage().trimEnd(),
    '',
    'Configuration comes from environment variables only; an invalid one stops `serve` before it listens,',
    'naming every offending variable. Environment variables:',
    '',
  ]
  for (const variable of variables) {
    lines.push(variableHeading(variable), ...wrap(variable.description, '      '))
  }
  lines.push('', 'Try it locally with `npm run demo`; the README explains the rest.')
  return `${lines.join('\n')}\n`
}
