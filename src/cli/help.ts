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
  { usage: 'explain [options] URL', summary: 'Why is this request allowed or denied? Replays it against this configuration (the live provider, the session store read-only, nothing changed) and prints the verdict with every reason and the exact answer Envoy gets; exit 0 allowed, 1 denied, 2 usage or configuration error, 3 undecidable. `authservice explain --help` for its options.' },
  { usage: 'hash-password [password]', summary: 'Print a bcrypt hash (cost 10) for a Dex staticPasswords entry; reads the password from standard input when it is not given (safer: it stays out of your shell history).' },
  { usage: 'help, --help, -h', summary: 'Show this help.' },
  { usage: 'version, --version', summary: 'Print the version.' },
]

const WIDTH = 100

/** `authservice explain --help`. */
export function explainUsage(): string {
  return `${[
    'Usage: authservice explain [-X METHOD] [-H "name: value"]... [-H @-] [-b cookies] [--json] URL',
    '       authservice explain --log-line \'<decision log line>\' [-H @-]',
    '',
    'Replays one request against the configuration in the environment (as `serve` loads it), with the',
    'live provider for discovery and keys and the session store read-only: no refresh, no token-endpoint',
    'call, no session written or deleted. Prints the verdict and every reason: skip-path matching after',
    'normalisation, the request kind and what decided it, each credential source tried and what it',
    'established or why it refused, the policy, and the exact answer Envoy gets. Secrets are never printed:',
    'credentials show as `sha256 <8 hex>`, the fingerprint decision log lines carry.',
    '',
    'Options:',
    '  URL                 https://host/path?query (curl-like) or /path',
    '  -X, --request M     the method (default GET; POST with -d)',
    '  -H, --header "n: v" a request header, repeatable',
    '  -H @-               headers from standard input, one per line: keeps a token off the command line',
    '                      (and out of the API server audit log for `kubectl exec`)',
    '  -b, --cookie "a=b"  a Cookie header',
    '  --log-line LINE     a decision log line copied from the service\'s logs (`-` reads it from standard',
    '                      input); explain replays what it identifies and asks for the credential it cannot know',
    '  --json              the explanation as JSON, for tools',
    '',
    'Exit: 0 allowed or skip path; 1 denied (401, 403, login redirect); 2 usage or configuration error;',
    '3 undecidable (provider or session store unreachable, or the logged credential not given).',
    '',
    'In the cluster (distroless image, no shell):',
    '  printf \'authorization: Bearer %s\\n\' "$TOKEN" | kubectl -n istio-system exec -i deploy/authservice -- \\',
    '    /nodejs/bin/node dist/server.js explain -H @- https://kubeflow.example.com/pipeline/apis/v2beta1/runs',
  ].join('\n')}\n`
}

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
