// What an adopter checks before taking a release (issue 18 §4): the licence named in package.json
// is the one in LICENSE, the newest released CHANGELOG version is the package version and the image
// tag deploy/base and the Helm chart ship, and SECURITY.md says where to report a vulnerability.
import t from 'tap'
import { readFileSync } from 'node:fs'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const pkg = JSON.parse(read('package.json')) as { version: string; license: string }

t.test('LICENSE holds the licence package.json names', async (t) => {
  t.equal(pkg.license, 'Apache-2.0')
  t.match(read('LICENSE'), /Apache License\s+Version 2\.0, January 2004/)
  t.match(read('LICENSE'), 'END OF TERMS AND CONDITIONS', 'the whole text, not a pointer to it')
})

t.test('the newest release in the CHANGELOG is the package version and the shipped image tag', async (t) => {
  const changelog = read('CHANGELOG.md')
  const released = [...changelog.matchAll(/^## \[(\d+\.\d+\.\d+)\] — (\d{4}-\d{2}-\d{2})$/gm)]
  t.ok(released.length > 0, 'at least one released version, with its date')
  t.equal(released[0]?.[1], pkg.version, 'the newest release is package.json\'s version')
  t.match(changelog, /^## \[Unreleased\]$/m, 'an Unreleased section above it for what comes next')
  t.ok(changelog.indexOf('## [Unreleased]') < changelog.indexOf(`## [${pkg.version}]`))
  t.match(read('deploy/base/kustomization.yaml'), `newTag: "${pkg.version}"`, 'deploy/base pins the image of this version')
  t.match(read('charts/authservice/Chart.yaml'), `appVersion: "${pkg.version}"`, "the chart's default image tag is this version")
})

t.test('SECURITY.md gives a private reporting channel', async (t) => {
  t.match(read('SECURITY.md'), /https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/security\/advisories\/new/)
})
