{{/* Header lists as Envoy StringMatcher patterns. */}}
{{- define "authservice.patterns" -}}
patterns:
{{- range . }}
  - exact: {{ . }}
{{- end }}
{{- end -}}

{{/* The Service's host, as the EnvoyFilter's cluster and the extension provider name it. */}}
{{- define "authservice.host" -}}
{{- printf "%s.%s.svc.cluster.local" (include "authservice.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/*
The `authservice` entries of Istio's meshConfig.extensionProviders (deploy/components/istio-ext-authz/
mesh-config/mesh.yaml): NOTES.txt prints them, the chart cannot own istio-system/istio.
*/}}
{{- define "authservice.extensionProviders" -}}
{{- $x := .Values.kubeflow.extAuthz -}}
extensionProviders:
  - name: authservice
    envoyExtAuthzHttp:
      service: {{ include "authservice.host" . }}
      port: {{ include "authservice.apiPort" . }}
      timeout: {{ $x.timeout }}
      failOpen: false
      includeRequestHeadersInCheck: {{ toJson $x.includeRequestHeadersInCheck }}
      headersToUpstreamOnAllow: {{ toJson $x.headersToUpstreamOnAllow }}
      headersToDownstreamOnDeny: {{ toJson $x.headersToDownstreamOnDeny }}
      headersToDownstreamOnAllow: {{ toJson $x.headersToDownstreamOnAllow }}
  - name: authservice-grpc
    envoyExtAuthzGrpc:
      service: {{ include "authservice.host" . }}
      port: 9090
      timeout: {{ $x.timeout }}
      failOpen: false
{{- end -}}
