/** What the login handlers share: configured URLs get their query parameters appended, never rebuilt. */
import t from 'tap'
import { withQuery } from '../../../src/login/results.js'

t.test('query parameters are appended with ? or, after an existing query, with &, form-encoded in order', async (t) => {
  t.equal(withQuery('/dex/auth', { state: 'a b', next: '/x?y=1' }), '/dex/auth?state=a+b&next=%2Fx%3Fy%3D1')
  t.equal(withQuery('https://idp.example.com/auth?tenant=kf', { client_id: 'kf' }), 'https://idp.example.com/auth?tenant=kf&client_id=kf')
})
