{{/* Every object's name (fixed by default: Kubeflow's gateways call authservice.istio-system). */}}
{{- define "authservice.fullname" -}}
{{- .Values.fullnameOverride | default "authservice" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* deploy/'s labels on every object, and Helm's own. */}}
{{- define "authservice.labels" -}}
app.kubernetes.io/name: {{ include "authservice.fullname" . }}
{{ include "authservice.commonLabels" . }}
{{- end -}}

{{/* The labels shared with the Redis objects (which carry their own app.kubernetes.io/name). */}}
{{- define "authservice.commonLabels" -}}
app.kubernetes.io/part-of: authservice
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pods' selector: deploy/'s, so the Service never selects oidc-authservice's pod. */}}
{{- define "authservice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "authservice.fullname" . }}
app.kubernetes.io/component: ext-authz
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is given (it wins). */}}
{{- define "authservice.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "authservice.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secrets" (include "authservice.fullname" .)) -}}
{{- end -}}

{{- define "authservice.redisName" -}}
{{- printf "%s-redis" (include "authservice.fullname" .) -}}
{{- end -}}

{{/* The ConfigMap's data: config, plus what sessionStore, kubernetesTokens and extraIssuers set. */}}
{{- define "authservice.configData" -}}
{{- $data := deepCopy .Values.config -}}
{{- $_ := set $data "KUBERNETES_TOKENS" (ternary "true" "false" .Values.kubernetesTokens.enabled) -}}
{{- if .Values.kubernetesTokens.legacyTokens -}}
{{- $_ := set $data "KUBERNETES_LEGACY_TOKENS" "true" -}}
{{- end -}}
{{- if eq .Values.sessionStore.type "redis" -}}
{{- $_ := set $data "SESSION_STORE_TYPE" "redis" -}}
{{- $address := .Values.redis.address | default (ternary (printf "%s.%s.svc.cluster.local:6379" (include "authservice.redisName" .) .Release.Namespace) "" .Values.redis.deploy) -}}
{{- if not $address -}}
{{- fail "sessionStore.type redis needs redis.address, or redis.deploy: true" -}}
{{- end -}}
{{- $_ := set $data "SESSION_STORE_REDIS_ADDR" $address -}}
{{- end -}}
{{- with .Values.extraIssuers -}}
{{- $entries := list -}}
{{- $rules := dict -}}
{{- range . -}}
{{- $entries = append $entries (ternary (printf "%s=%s" .issuer (.audience | default "")) .issuer (not (empty .audience))) -}}
{{- $rule := dict -}}
{{- with .useridClaim }}{{ $_ := set $rule "useridClaim" . }}{{ end -}}
{{- with .emailDomains }}{{ $_ := set $rule "emailDomains" . }}{{ end -}}
{{- if $rule }}{{ $_ := set $rules .issuer $rule }}{{ end -}}
{{- end -}}
{{- $_ := set $data "EXTRA_JWT_ISSUERS" (join "," $entries) -}}
{{- if $rules }}{{ $_ := set $data "EXTRA_JWT_ISSUER_RULES" (toJson $rules) }}{{ end -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* The ops port (/healthz, /readyz, /metrics) and the check port, from the configuration. */}}
{{- define "authservice.opsPort" -}}{{ .Values.config.READINESS_PROBE_PORT | default "8081" | int }}{{- end -}}
{{- define "authservice.apiPort" -}}{{ .Values.config.SERVER_PORT | default "8080" | int }}{{- end -}}
