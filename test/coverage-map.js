// tap's coverage map: each unit test may only cover the module it is about, so coverage cannot be
// lifted by tests that merely pass through a module. Integration and peer tests cover nothing
// (they prove behaviour through real Envoy, Dex, Redis and Chromium instead).
//   test/unit/<path>.test.ts -> src/<path>.ts
export default function coverageMap(testFile) {
  const unit = /^test\/unit\/(.+)\.test\.ts$/.exec(testFile)
  if (unit) return [`src/${unit[1]}.ts`]
  return null
}
