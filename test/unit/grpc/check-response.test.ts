/**
 * CheckReply → Envoy's gRPC CheckResponse: status always set (an empty response is an ALLOW),
 * identity headers overwrite, Set-Cookie values all survive, and the deny codes.
 */
import t from 'tap'
import { loadSync } from '@grpc/proto-loader'
import type { Decision } from '../../../src/check/decision.js'
import { createResponder, type CheckReply } from '../../../src/check/respond.js'
import { grpcCodeFor, toCheckResponse } from '../../../src/grpc/check-response.js'
import { loadProtos, loaderOptions, PROTO_DIR } from '../../../src/grpc/protos.js'
import { utf8Octets } from '../../../src/http/check-route.js'

const identity = { userId: 'alice@example.com', groups: ['team-a'], email: 'alice@example.com', idToken: 'dex.id.token' }

/** One decision of every outcome the checker can produce. */
const DECISIONS: Decision[] = [
  { outcome: 'skip', kind: 'navigation', reason: 'SKIP_PATH' },
  { outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity, via: 'authorization' },
  { outcome: 'allow', kind: 'api', reason: 'CREDENTIAL_VALID', identity: { ...identity, groups: [] }, via: 'authorization' },
  { outcome: 'forbidden', kind: 'api', reason: 'GROUP_NOT_ALLOWED', identity },
  { outcome: 'unauthenticated', kind: 'api', reason: 'NO_CREDENTIAL', codes: [] },
  { outcome: 'unauthenticated', kind: 'navigation', reason: 'CREDENTIAL_REJECTED', codes: ['ERR_TOKEN_EXPIRED'] },
  { outcome: 'login', kind: 'navigation', reason: 'LOGIN_REQUIRED', codes: [] },
  { outcome: 'unavailable', kind: 'navigation', reason: 'PROVIDER_UNAVAILABLE' },
]
const reply = createResponder({ userIdHeader: 'kubeflow-userid', groupsHeader: 'kubeflow-groups', setAuthorizationHeader: true, setXAuthRequest: false, retryAfterSeconds: 5 })

/** Envoy's view: the response serialized by our server's protos, decoded with enums as numbers. */
function onTheWire(response: object): Record<string, any> {
  const numeric = loadSync(['envoy/service/auth/v3/external_auth.proto'], { ...loaderOptions(PROTO_DIR), enums: Number })
  const Check = (numeric['envoy.service.auth.v3.Authorization'] as Record<string, { responseDeserialize(b: Buffer): unknown }>).Check!
  return Check.responseDeserialize(loadProtos().authorization.Check!.responseSerialize(response)) as Record<string, any>
}

t.test('an allow: status OK set explicitly, identity headers OVERWRITE, headers removed, Set-Cookie APPEND', async (t) => {
  const allow: CheckReply = {
    kind: 'allow',
    upstreamHeaders: [['kubeflow-userid', 'alice@example.com'], ['authorization', 'Bearer dex.id.token']],
    removeHeaders: ['kubeflow-groups'],
    responseHeaders: [['set-cookie', 'a=1; Path=/'], ['set-cookie', 'b=2; Path=/']],
  }
  const response = toCheckResponse(allow)
  t.same(response, {
    status: { code: 0, message: '' },
    ok_response: {
      headers: [
        { header: { key: 'kubeflow-userid', value: 'alice@example.com' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
        { header: { key: 'authorization', value: 'Bearer dex.id.token' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      ],
      headers_to_remove: ['kubeflow-groups'],
      response_headers_to_add: [
        { header: { key: 'set-cookie', value: 'a=1; Path=/' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
        { header: { key: 'set-cookie', value: 'b=2; Path=/' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      ],
    },
  })

  const wire = onTheWire(response)
  t.ok(wire.status, 'the status message is on the wire (an absent one would mean allow anyway, but never by accident)')
  t.equal(wire.ok_response.headers[0].append_action, 2, 'OVERWRITE_IF_EXISTS_OR_ADD is 2 on the wire (base.proto)')
  t.notOk('append' in wire.ok_response.headers[0], 'the deprecated append is never sent')
  t.notOk(wire.ok_response.response_headers_to_add[0].append_action, 'APPEND_IF_EXISTS_OR_ADD is the proto default 0')
})

t.test('a deny: a non-zero status code plus the HTTP status, headers (append unset) and body', async (t) => {
  const deny: CheckReply = {
    kind: 'deny',
    status: 302,
    headers: [['location', '/dex/auth?x=1'], ['set-cookie', 'state=1'], ['set-cookie', 'nonce=2']],
    body: '',
  }
  const response = toCheckResponse(deny)
  t.same(response, {
    status: { code: 16, message: 'unauthenticated' },
    denied_response: {
      status: { code: 302 },
      headers: [
        { header: { key: 'location', value: '/dex/auth?x=1' } },
        { header: { key: 'set-cookie', value: 'state=1' } },
        { header: { key: 'set-cookie', value: 'nonce=2' } },
      ],
      body: '',
    },
  })
  const wire = onTheWire(response)
  t.equal(wire.status.code, 16)
  t.equal(wire.denied_response.status.code, 302)
  t.equal(wire.denied_response.headers.length, 3, 'both Set-Cookie travel')
  for (const header of wire.denied_response.headers) t.notOk('append' in header || 'append_action' in header, 'append left unset')
})

t.test('403 is PERMISSION_DENIED; 401 and the login redirect are UNAUTHENTICATED', async (t) => {
  t.equal(grpcCodeFor(403), 7)
  t.equal(grpcCodeFor(401), 16)
  t.equal(grpcCodeFor(302), 16)
  t.same(toCheckResponse({ kind: 'deny', status: 403, headers: [], body: 'no' }).status, { code: 7, message: 'permission denied' })
})

t.test('guard: every response built from a real decision has a status, and only allow and skip are OK', async (t) => {
  const empty = loadProtos().authorization.Check!.responseDeserialize(Buffer.alloc(0)) as { status?: unknown }
  t.equal(empty.status, undefined, 'an empty CheckResponse has no status, which Envoy reads as code 0: allow')
  for (const decision of DECISIONS) {
    const response = toCheckResponse(reply(decision))
    const wire = onTheWire(response)
    t.ok(wire.status, `${decision.outcome}/${decision.reason}: status is sent`)
    const allowed = decision.outcome === 'allow' || decision.outcome === 'skip'
    t.equal(response.status.code === 0, allowed, `${decision.outcome}/${decision.reason}: code ${response.status.code}`)
    t.equal('ok_response' in response, allowed)
    t.equal('denied_response' in response, !allowed)
  }
})

t.test('identity headers: the same octets as HTTP mode (a proto string is UTF-8)', async (t) => {
  for (const value of ['josé@example.com', '开发组,équipe-a', 'alice@example.com']) {
    const wire = loadProtos().authorization.Check!.responseSerialize(toCheckResponse({ kind: 'allow', upstreamHeaders: [['kubeflow-groups', value]], removeHeaders: [], responseHeaders: [] }))
    const http = Buffer.from(utf8Octets(value), 'latin1')
    t.ok(wire.includes(http), `${value}: the HTTP mode's octets are on the gRPC wire`)
    t.same(http, Buffer.from(value, 'utf8'), `${value}: and they are its UTF-8 octets`)
  }
})
