// Issue 15, finding 5: an EXTRA_JWT_ISSUERS entry naming OIDC_PROVIDER itself silently replaced
// the primary issuer (same `iss`, the entry's audience), so Dex tokens for CLIENT_ID got 401 and
// logins failed. Now such an entry adds an audience for bearer tokens of the primary issuer only;
// the login callback keeps requiring CLIENT_ID. Through real Envoy, with our test issuer (it signs
// any audience) and with real Dex (logins).
import t from 'tap'
import { startAuthservice } from '../helpers/authservice.js'
import { startDex } from '../helpers/dex.js'
import { startEchoUpstream, type EchoedRequest } from '../helpers/echo-upstream.js'
import { API, faultEnv, startFaultGateway } from '../helpers/fault-gateway.js'
import { skipUnlessPeers } from '../helpers/peer-manifest.js'
import { scriptedLogin } from '../helpers/scripted-login.js'
import { KUBEFLOW_CLIENT_ID, startTestIssuer } from '../helpers/test-issuer.js'
import { send, type Answer } from '../helpers/traffic.js'

const PIPELINES = 'pipelines.kubeflow.org'

const upstreamUser = (answer: Pick<Answer, 'status' | 'body'>) =>
  answer.status === 200 ? (JSON.parse(answer.body) as EchoedRequest).headers['kubeflow-userid'] : undefined

t.test('bearer tokens of the primary issuer: CLIENT_ID and the added audience', { skip: skipUnlessPeers('envoy') }, async (t) => {
  const issuer = await startTestIssuer()
  t.teardown(() => issuer.close())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const provider = { issuer: issuer.issuer, clientId: KUBEFLOW_CLIENT_ID, clientSecret: 'a-client-secret-of-our-own' }
  const authservice = await startAuthservice(faultEnv(provider, { EXTRA_JWT_ISSUERS: `${issuer.issuer}=${PIPELINES}` }))
  t.teardown(() => authservice.close())
  const { envoy } = await startFaultGateway(t, 'http', authservice, { upstreamPort: upstream.port })
  const check = async (aud: unknown, azp?: string) =>
    send(`${envoy.url}/api/x`, { headers: { ...API, authorization: `Bearer ${await issuer.sign({ aud, azp })}` } })

  t.equal(upstreamUser(await check(KUBEFLOW_CLIENT_ID)), 'user@example.com', 'a token for CLIENT_ID is still allowed')
  t.equal(upstreamUser(await check(PIPELINES)), 'user@example.com', 'a token for the added audience is allowed')
  t.equal((await check([PIPELINES, 'other'], PIPELINES)).status, 200, 'several audiences, azp the added one')
  t.equal((await check([PIPELINES, 'other'])).status, 401, 'several audiences without azp: refused')
  t.equal((await check('other')).status, 401, 'any other audience: refused')
})

t.test('Dex as OIDC_PROVIDER and in EXTRA_JWT_ISSUERS: its tokens and logins keep working', { skip: skipUnlessPeers('dex', 'envoy') }, async (t) => {
  const dex = await startDex()
  t.teardown(() => dex.stop())
  const upstream = await startEchoUpstream()
  t.teardown(() => upstream.close())
  const authservice = await startAuthservice(faultEnv(dex, { EXTRA_JWT_ISSUERS: `${dex.issuer}=${PIPELINES}` }))
  t.teardown(() => authservice.close())
  const { envoy } = await startFaultGateway(t, 'http', authservice, { upstreamPort: upstream.port, dexPort: dex.port })
  const { id_token: token } = await dex.passwordGrant('bob@example.org')
  const bearer = await send(`${envoy.url}/api/x`, { headers: { ...API, authorization: `Bearer ${token}` } })
  t.equal(upstreamUser(bearer), 'bob@example.org', 'a Dex token for CLIENT_ID is allowed')
  const login = await scriptedLogin(envoy.url, '/notebooks/', 'alice@example.com', 'alice-password')
  t.equal(login.final.status, 200, `a login works (${login.final.status})`)
  t.equal(upstreamUser(login.final), 'alice@example.com')
})
