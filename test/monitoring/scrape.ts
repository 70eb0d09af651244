/**
 * Scrapes of the real service turned into `promtool test rules` input: each snapshot is parsed
 * into samples, and phases of traffic (the difference between two snapshots) are replayed one per
 * minute, so minutes of Prometheus history are built from seconds of recorded traffic.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Snapshot {
  /** `name{labels}` → value, as the service printed them. */
  readonly samples: ReadonlyMap<string, number>
  /** Family name → type (`counter`, `gauge`, `histogram`), from the `# TYPE` lines. */
  readonly types: ReadonlyMap<string, string>
}

export async function scrape(opsUrl: string): Promise<Snapshot> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text()
  const samples = new Map<string, number>()
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type) types.set(type[1]!, type[2]!)
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    samples.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return { samples, types }
}

/** Every metric name the service exports: families, and a histogram's `_bucket`, `_sum`, `_count`. */
export function exportedNames(snapshot: Snapshot): Set<string> {
  const names = new Set<string>()
  for (const [family, type] of snapshot.types) {
    names.add(family)
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family + suffix)
  }
  for (const sample of snapshot.samples.keys()) names.add(sample.replace(/\{.*$/, ''))
  return names
}

const nameOf = (sample: string) => sample.replace(/\{.*$/, '')

/** One stretch of replayed history: traffic between `from` and `to`, repeated every minute `minutes` times. */
export interface Phase {
  readonly from: Snapshot
  readonly to: Snapshot
  readonly minutes: number
}

/** The type of the family a sample belongs to (histogram samples carry a suffix). */
function typeOf(snapshot: Snapshot, sample: string): string | undefined {
  const name = nameOf(sample)
  return snapshot.types.get(name) ?? snapshot.types.get(name.replace(/_(bucket|sum|count)$/, ''))
}

/**
 * promtool `input_series` for the samples of `families`, labelled as Prometheus would label the pod's
 * scrape (`labels`): counters grow by each phase's recorded increase per minute; gauges hold the
 * value of the phase's last snapshot; a series is absent (`_`) until it first exists.
 */
export function inputSeries(start: Snapshot, phases: readonly Phase[], families: readonly string[], labels: Record<string, string>) {
  const wanted = (sample: string) => families.some((family) => nameOf(sample) === family)
  const keys = new Set([...start.samples.keys(), ...phases.flatMap((phase) => [...phase.to.samples.keys()])].filter(wanted))
  const extra = Object.entries(labels).map(([name, value]) => `${name}="${value}"`).join(',')
  return [...keys].sort().map((sample) => {
    const counter = typeOf(start, sample) !== 'gauge' && typeOf(phases[0]!.to, sample) !== 'gauge'
    let value = start.samples.get(sample)
    const values: string[] = [value === undefined ? '_' : String(value)]
    for (const phase of phases) {
      const step = (phase.to.samples.get(sample) ?? 0) - (phase.from.samples.get(sample) ?? 0)
      for (let minute = 0; minute < phase.minutes; minute++) {
        if (counter) value = value === undefined && step === 0 ? undefined : (value ?? 0) + step
        else value = phase.to.samples.get(sample)
        values.push(value === undefined ? '_' : String(Number(value.toFixed(9))))
      }
    }
    const series = sample.includes('{') ? sample.replace(/\}$/, `,${extra}}`) : `${sample}{${extra}}`
    return { series, values: values.join(' ') }
  })
}

/** Writes a promtool unit-test file (JSON is YAML) next to the rules; returns its path. */
export function writeRuleTests(dir: string, ruleFile: string, tests: unknown[]): string {
  const path = join(dir, 'tests.yaml')
  writeFileSync(path, JSON.stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests }, null, 2))
  return path
}
