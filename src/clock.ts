/** The only way code reads time: injected, so tests can move it and decisions stay pure. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
