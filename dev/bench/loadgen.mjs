/**
 * The load generator, a separate process (pinned to its own core by run.mjs): receives one run at a
 * time over IPC, drives it, and answers with what it measured. HTTP runs use autocannon's
 * programmatic API (keep-alive connections on 127.0.0.1); gRPC runs use the tests' gRPC client
 * (test/helpers/grpc.ts, hence tap's TypeScript loader) with N concurrent Check calls in flight on one
 * channel (as Envoy's single HTTP/2 connection does), each the request Envoy would send.
 *
 * Latency is taken from every response (float milliseconds, exact percentiles over all samples),
 * not autocannon's integer-millisecond histogram, so sub-millisecond differences are visible. The
 * process's own CPU use over the run (process.cpuUsage) says whether the generator, not the server,
 * was the limit: at ≥ 95 % of one core the numbers measure the generator.
 */
import { readFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import autocannon from 'autocannon'
import { envoyCheckRequest, grpcClient } from '../../test/helpers/grpc.js'

const valueFiles = new Map()
const positions = new Map()
function valuesOf(cycle) {
  if (cycle.values) return cycle.values
  let values = valueFiles.get(cycle.file)
  if (!values) {
    values = JSON.parse(readFileSync(cycle.file, 'utf8'))
    valueFiles.set(cycle.file, values)
  }
  return values
}

/** A growable Float64Array of latency samples (ms). */
function samples() {
  let data = new Float64Array(1 << 16)
  let size = 0
  return {
    push(value) {
      if (size === data.length) {
        const next = new Float64Array(data.length * 2)
        next.set(data)
        data = next
      }
      data[size++] = value
    },
    summary() {
      const sorted = data.slice(0, size).sort()
      const at = (q) => (size === 0 ? 0 : sorted[Math.min(size - 1, Math.floor(q * size))])
      let total = 0
      for (let i = 0; i < size; i++) total += sorted[i]
      return {
        count: size,
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: size === 0 ? 0 : sorted[size - 1],
        mean: size === 0 ? 0 : total / size,
      }
    },
  }
}

function measure(run) {
  return async (spec) => {
    const cpuBefore = process.cpuUsage()
    const started = process.hrtime.bigint()
    const outcome = await run(spec)
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = process.cpuUsage(cpuBefore)
    const statuses = outcome.statuses
    const completed = Object.values(statuses).reduce((a, b) => a + b, 0)
    const expected = statuses[String(spec.expect)] ?? 0
    return {
      ...outcome,
      completed,
      unexpected: completed - expected,
      elapsedSeconds: elapsed,
      rps: completed / elapsed,
      generatorCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    }
  }
}

const runHttp = measure(async (spec) => {
  const request = { method: spec.request.method, path: spec.request.path, headers: { ...spec.request.headers } }
  if (spec.request.cycle) {
    // One counter shared by every connection, so N connections walk the list together instead of
    // each replaying it from the start (which would turn "distinct tokens" into cache hits).
    const { header, prefix = '' } = spec.request.cycle
    const values = valuesOf(spec.request.cycle)
    // The position carries over between runs against the same port, so the service's walk through
    // the list never restarts where its cache still holds the tokens (the baseline has its own).
    const key = `${spec.port}:${spec.request.cycle.file ?? 'inline'}`
    let next = positions.get(key) ?? 0
    request.setupRequest = (req) => {
      req.headers[header] = prefix + values[next++ % values.length]
      positions.set(key, next)
      return req
    }
  }
  const latency = samples()
  const statuses = {}
  const instance = autocannon({
    url: `http://127.0.0.1:${spec.port}`,
    connections: spec.connections,
    pipelining: 1,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.seconds }),
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    timeout: 10,
    requests: [request],
  })
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1
    latency.push(responseTime)
  })
  const result = await instance
  return { statuses, latency: latency.summary(), errors: result.errors, timeouts: result.timeouts, resets: result.resets }
})

/**
 * An open-loop run at a fixed rate (the Envoy scenario): requests leave evenly spaced — every
 * 1000/rate ms, checked each millisecond — over keep-alive sockets (at most `connections`), whether
 * or not earlier answers have come back. autocannon's `overallRate` is not that: each connection
 * spends its per-second budget in a burst at the start of every second, which measures queueing
 * behind a burst of `connections` requests rather than the latency a check adds.
 */
const runPaced = measure(async (spec) => {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections })
  const latency = samples()
  const statuses = {}
  let errors = 0
  let sent = 0
  let inFlight = 0
  const total = spec.amount ?? Math.round(spec.rate * spec.seconds)
  const intervalMs = 1000 / spec.rate
  const { method, path, headers } = spec.request
  const started = performance.now()
  await new Promise((resolve) => {
    const finishIfDone = () => {
      if (sent === total && inFlight === 0) resolve()
    }
    const fire = () => {
      sent++
      inFlight++
      const start = process.hrtime.bigint()
      const request = httpRequest({ host: '127.0.0.1', port: spec.port, method, path, headers, agent }, (response) => {
        response.resume()
        response.once('end', () => {
          statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1
          latency.push(Number(process.hrtime.bigint() - start) / 1e6)
          inFlight--
          finishIfDone()
        })
      })
      request.once('error', () => {
        errors++
        inFlight--
        finishIfDone()
      })
      request.end()
    }
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1)
      while (sent < due) fire()
      if (sent < total) setTimeout(tick, 1)
    }
    tick()
  })
  agent.destroy()
  return { statuses, latency: latency.summary(), errors, timeouts: 0, resets: 0 }
})

let grpcClients = new Map()
function clientFor(port) {
  let client = grpcClients.get(port)
  if (!client) {
    client = grpcClient(port)
    grpcClients.set(port, client)
  }
  return client
}

const runGrpc = measure(async (spec) => {
  const client = clientFor(spec.port)
  const { method, path, headers } = spec.request
  const message = envoyCheckRequest(method, path, headers)
  const latency = samples()
  const statuses = {}
  let errors = 0
  let sent = 0
  const deadline = Date.now() + (spec.seconds ?? 3600) * 1000
  const more = () => (spec.amount ? sent < spec.amount : Date.now() < deadline)
  const one = async () => {
    const start = process.hrtime.bigint()
    try {
      const response = await client.check(message)
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      // ok_response → 200, a denied_response → its HTTP status (as Envoy would answer).
      const status = response.denied_response ? String(response.denied_response.status?.code ?? 'denied') : '200'
      statuses[status] = (statuses[status] ?? 0) + 1
      latency.push(ms)
    } catch {
      errors++
    }
  }
  const worker = async () => {
    while (more()) {
      sent++
      await one()
    }
  }
  await Promise.all(Array.from({ length: spec.connections }, worker))
  return { statuses, latency: latency.summary(), errors, timeouts: 0, resets: 0 }
})

process.on('message', async (message) => {
  if (message?.type === 'exit') {
    for (const client of grpcClients.values()) client.close()
    grpcClients = new Map()
    process.disconnect()
    return
  }
  if (message?.type !== 'run') return
  try {
    const { kind } = message.spec
    const result = kind === 'grpc' ? await runGrpc(message.spec) : kind === 'paced' ? await runPaced(message.spec) : await runHttp(message.spec)
    process.send({ type: 'result', id: message.id, result })
  } catch (error) {
    process.send({ type: 'error', id: message.id, message: error?.stack ?? String(error) })
  }
})
process.send({ type: 'ready' })
