/**
 * A CheckReply (check/respond.ts) → Envoy's gRPC CheckResponse: the twin of sendHttpReply in
 * http/check-route.ts. Contract: external_auth.proto, ext_authz_grpc_impl.cc, and
 * envoy-ext-authz.md §2.2–2.3:
 * - `status` is always set: an omitted status decodes as code 0, which Envoy treats as ALLOW;
 * - identity headers carry append_action OVERWRITE_IF_EXISTS_OR_ADD: with `append` unset, newer
 *   Envoy reads append_action, whose default (APPEND_IF_EXISTS_OR_ADD) would let a client-sent
 *   kubeflow-userid survive beside ours; older Envoy overwrites when `append` is unset;
 * - denied headers and allow-time response headers leave `append` unset with the (default)
 *   APPEND_IF_EXISTS_OR_ADD, so several Set-Cookie all reach the client on old and new Envoy.
 */
import type { CheckReply, HeaderList } from '../check/respond.js'
import type { CheckResponseMessage, HeaderAppendAction, HeaderValueOptionMessage } from './messages.js'

/** google.rpc.Code values Envoy reads in CheckResponse.status. */
export const GRPC_OK = 0
export const GRPC_PERMISSION_DENIED = 7
export const GRPC_UNAUTHENTICATED = 16

/** 403 is "you may not"; 401 and the login redirect (302) are "who are you?". */
export function grpcCodeFor(httpStatus: number): number {
  return httpStatus === 403 ? GRPC_PERMISSION_DENIED : GRPC_UNAUTHENTICATED
}

function options(headers: HeaderList, appendAction: HeaderAppendAction): HeaderValueOptionMessage[] {
  return headers.map(([key, value]) => ({ header: { key, value }, append_action: appendAction }))
}

export function toCheckResponse(reply: CheckReply): CheckResponseMessage {
  if (reply.kind === 'allow') {
    return {
      status: { code: GRPC_OK, message: '' },
      ok_response: {
        headers: options(reply.upstreamHeaders, 'OVERWRITE_IF_EXISTS_OR_ADD'),
        headers_to_remove: [...reply.removeHeaders],
        response_headers_to_add: options(reply.responseHeaders, 'APPEND_IF_EXISTS_OR_ADD'),
      },
    }
  }
  const code = grpcCodeFor(reply.status)
  return {
    status: { code, message: code === GRPC_PERMISSION_DENIED ? 'permission denied' : 'unauthenticated' },
    denied_response: {
      status: { code: reply.status },
      // `append` unset: Envoy removes same-named headers of its local reply, then adds every value.
      headers: reply.headers.map(([key, value]) => ({ header: { key, value } })),
      body: reply.body,
    },
  }
}
