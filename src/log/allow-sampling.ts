/**
 * LOG_ALLOW_DECISIONS: how allowed decisions reach the log. An allow is the common case (every
 * request of a signed-in user), so a busy gateway may want fewer of its lines; a deny, a login
 * redirect or an unavailable answer is what an operator looks for, so those are always written.
 *
 * `1-in-N` counts allows and writes every N-th, with `sampled: N` so a count taken from the log can
 * be scaled back. The count lives in the gate (one per handler), never in the module.
 */
import type { AllowLogging } from '../config/types.js'

/** The level an allow's line is written at, or undefined to leave it out; `sampled` when it stands for N. */
export interface AllowLine {
  readonly level: 'info' | 'debug'
  readonly sampled?: number
}

const INFO: AllowLine = { level: 'info' }
const DEBUG: AllowLine = { level: 'debug' }

export function createAllowGate(setting: AllowLogging): () => AllowLine | undefined {
  switch (setting.mode) {
    case 'all':
      return () => INFO
    case 'debug':
      return () => DEBUG
    case 'sample': {
      const line: AllowLine = { level: 'info', sampled: setting.every }
      // The first allow is written, then every N-th: a quiet service still shows one.
      let seen = setting.every - 1
      return () => {
        seen = seen + 1 === setting.every ? 0 : seen + 1
        return seen === 0 ? line : undefined
      }
    }
  }
}
