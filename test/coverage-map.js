// tap's coverage map: each unit test may only cover the module it is about, so coverage cannot be
// lifted by tests that merely pass through a module. Integration and peer tests cover nothing
// (they prove behaviour through real Envoy, Dex, Redis and Chromium instead).
//   test/unit/<path>.test.ts -> src/<path>.ts
// except the credential sources, which are tested as the list the check runs (sources.test.ts; a
// source with a test file of its own, such as kubernetes-token.test.ts, is also covered by that file):
//   test/unit/credentials/sources.test.ts -> every file of src/credentials/
import { readdirSync } from 'node:fs'

export default function coverageMap(testFile) {
  if (testFile === 'test/unit/credentials/sources.test.ts') {
    return readdirSync('src/credentials').filter((name) => name.endsWith('.ts')).map((name) => `src/credentials/${name}`)
  }
  const unit = /^test\/unit\/(.+)\.test\.ts$/.exec(testFile)
  if (unit) return [`src/${unit[1]}.ts`]
  return null
}
