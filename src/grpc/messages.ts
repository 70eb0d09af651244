/**
 * The TypeScript shapes of the ext_authz messages as @grpc/proto-loader hands them to us and takes
 * them back (options in protos.ts: keepCase, enums as names, int64 as strings, no defaults filled
 * in — so every decoded field may be absent). Only the fields authservice reads or writes.
 * Protos: proto/envoy/service/auth/v3/*.proto (trimmed copies of Envoy's data-plane-api).
 */

/** envoy.config.core.v3.HeaderValue: Envoy fills `value`, or `raw_value` with encode_raw_headers. */
export interface HeaderValueMessage {
  readonly key?: string
  readonly value?: string
  readonly raw_value?: Uint8Array
}

/** envoy.service.auth.v3.AttributeContext.HttpRequest (the request Envoy is asking about). */
export interface HttpRequestMessage {
  readonly id?: string
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly path?: string
  readonly host?: string
  readonly scheme?: string
  readonly query?: string
  readonly protocol?: string
  readonly header_map?: { readonly headers?: readonly HeaderValueMessage[] }
}

/** envoy.service.auth.v3.CheckRequest. */
export interface CheckRequestMessage {
  readonly attributes?: {
    readonly request?: { readonly http?: HttpRequestMessage }
    readonly context_extensions?: Readonly<Record<string, string>>
  }
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction, by name. */
export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS'

/** envoy.config.core.v3.HeaderValueOption; `append` (deprecated) is never sent, see check-response.ts. */
export interface HeaderValueOptionMessage {
  readonly header: { readonly key: string; readonly value: string }
  readonly append_action?: HeaderAppendAction
}

export interface OkHttpResponseMessage {
  readonly headers: readonly HeaderValueOptionMessage[]
  readonly headers_to_remove: readonly string[]
  readonly response_headers_to_add: readonly HeaderValueOptionMessage[]
}

export interface DeniedHttpResponseMessage {
  readonly status: { readonly code: number }
  readonly headers: readonly HeaderValueOptionMessage[]
  readonly body: string
}

/**
 * envoy.service.auth.v3.CheckResponse as we send it. `status` is required here on purpose: an
 * omitted status decodes as code 0, which Envoy treats as an ALLOW (envoy-ext-authz.md §2.2).
 */
export type CheckResponseMessage =
  | { readonly status: { readonly code: 0; readonly message: string }; readonly ok_response: OkHttpResponseMessage }
  | { readonly status: { readonly code: number; readonly message: string }; readonly denied_response: DeniedHttpResponseMessage }

/** grpc.health.v1.HealthCheckRequest / HealthCheckResponse. */
export interface HealthCheckRequestMessage {
  readonly service?: string
}
export interface HealthCheckResponseMessage {
  readonly status: 'SERVING' | 'NOT_SERVING'
}
