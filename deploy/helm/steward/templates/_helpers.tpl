{{/* vim: set filetype=mustache: */}}

{{/* Chart name, overridable. */}}
{{- define "steward.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name: the release name (or fullnameOverride). Per-service
     objects are "<release>-<service>", e.g. "steward-registry"; the registry's gRPC
     target is "<release>-registry:9090". */}}
{{- define "steward.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* "<fullname>-<service>". Call with (dict "root" $ "svc" "registry"). */}}
{{- define "steward.serviceName" -}}
{{- printf "%s-%s" (include "steward.fullname" .root) .svc | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "steward.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels shared by every object of the release. */}}
{{- define "steward.labels" -}}
helm.sh/chart: {{ include "steward.chart" . }}
app.kubernetes.io/name: {{ include "steward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: steward
{{- end -}}

{{/* Selector labels of the release's steward pods (any service). */}}
{{- define "steward.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "steward.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one service. Call with (dict "root" $ "svc" "registry"). */}}
{{- define "steward.selectorLabels" -}}
{{ include "steward.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{/* Full labels of one service's objects. Call with (dict "root" $ "svc" "registry"). */}}
{{- define "steward.serviceLabels" -}}
{{ include "steward.labels" .root }}
app.kubernetes.io/component: {{ .svc }}
{{- end -}}

{{- define "steward.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "steward.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference of one service. Call with (dict "root" $ "svc" "registry" "cfg" $cfg). */}}
{{- define "steward.image" -}}
{{- $repo := .cfg.image.repository -}}
{{- if .root.Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) $repo -}}
{{- end -}}
{{- if .cfg.image.digest -}}
{{- printf "%s@%s" $repo .cfg.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion (toString .cfg.image.tag)) -}}
{{- end -}}
{{- end -}}

{{/* gRPC target of the registry service (other services call it). */}}
{{- define "steward.registryGrpcTarget" -}}
{{- if .Values.config.registryGrpcTarget -}}
{{- .Values.config.registryGrpcTarget -}}
{{- else -}}
{{- printf "%s:%v" (include "steward.serviceName" (dict "root" . "svc" "registry")) .Values.services.registry.ports.grpc -}}
{{- end -}}
{{- end -}}

{{/* Service name of the official nats subchart (its fullname helper). */}}
{{- define "steward.natsFullname" -}}
{{- if contains "nats" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "steward.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s:%v" (include "steward.natsFullname" .) .Values.nats.port -}}
{{- else -}}
{{- required "nats.external.url is required when nats.enabled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/* Name of the CloudNativePG Cluster. */}}
{{- define "steward.cnpgClusterName" -}}
{{- printf "%s-pg" (include "steward.fullname" .) -}}
{{- end -}}

{{/* Secret + key holding STEWARD_DATABASE_URL for one service.
     Call with (dict "root" $ "svc" "registry" "cfg" $cfg); returns "name key". */}}
{{- define "steward.dbSecretName" -}}
{{- $root := .root -}}
{{- if $root.Values.postgresql.cnpg.enabled -}}
{{- printf "%s-db" (include "steward.serviceName" .) -}}
{{- else if and .cfg.database .cfg.database.existingSecret -}}
{{- .cfg.database.existingSecret -}}
{{- else -}}
{{- $root.Values.postgresql.external.urlSecret.name | replace "{release}" $root.Release.Name | replace "{service}" .svc -}}
{{- end -}}
{{- end -}}

{{/* Secret with the OAuth2 client id and secret of one service (auth.serviceClient.secret).
     Call with (dict "root" $ "svc" "registry"). */}}
{{- define "steward.serviceClientSecretName" -}}
{{- .root.Values.auth.serviceClient.secret.name | replace "{release}" .root.Release.Name | replace "{service}" .svc -}}
{{- end -}}

{{/* Where the client secret is mounted (a file, so a rotated Secret is read without a restart). */}}
{{- define "steward.serviceClientSecretPath" -}}
/var/run/secrets/steward/service-client/client-secret
{{- end -}}

{{/* Where the database URL is mounted with postgresql.credentialsAsFile. */}}
{{- define "steward.databaseUrlPath" -}}
/var/run/secrets/steward/database/url
{{- end -}}

{{- define "steward.dbSecretKey" -}}
{{- if .root.Values.postgresql.cnpg.enabled -}}url{{- else -}}{{ .root.Values.postgresql.external.urlSecret.key }}{{- end -}}
{{- end -}}

{{/* Helm hooks of the migration Jobs. */}}
{{- define "steward.migrationHooks" -}}
{{- if .Values.migrations.hooks -}}
{{- .Values.migrations.hooks -}}
{{- else if .Values.postgresql.cnpg.enabled -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* Non-secret environment of one service as a YAML map (ConfigMap data and Job env).
     Call with (dict "root" $ "svc" "registry" "cfg" $cfg). */}}
{{- define "steward.configData" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
STEWARD_SERVICE_NAME: {{ .svc | quote }}
STEWARD_ENVIRONMENT: {{ $v.environment | quote }}
STEWARD_HTTP_HOST: "0.0.0.0"
STEWARD_HTTP_PORT: {{ .cfg.ports.http | quote }}
STEWARD_GRPC_HOST: "0.0.0.0"
STEWARD_GRPC_PORT: {{ .cfg.ports.grpc | quote }}
STEWARD_NATS_URL: {{ include "steward.natsUrl" $root | quote }}
{{- /* the platform's streams keep a copy on up to 3 nodes of the nats subchart's cluster */}}
{{- if and $v.nats.enabled $v.nats.config.cluster.enabled (not $v.jetstream.provision) (not (hasKey $v.config.extraEnv "STEWARD_EVENTS_STREAM_REPLICAS")) }}
STEWARD_EVENTS_STREAM_REPLICAS: {{ min 3 (int $v.nats.config.cluster.replicas) | toString | quote }}
{{- end }}
{{- if $v.postgresql.credentialsAsFile }}
STEWARD_DATABASE_URL_FILE: {{ include "steward.databaseUrlPath" $root | quote }}
{{- end }}
{{- with $v.jetstream }}
{{- if .provision }}
{{- /* the streams are the controller's: services look them up with the same settings */}}
STEWARD_EVENTS_STREAMS_MANAGED: "true"
STEWARD_EVENTS_STREAM_REPLICAS: {{ .replicas | toString | quote }}
STEWARD_EVENTS_MAX_AGE_DAYS: {{ .events.maxAgeDays | toString | quote }}
STEWARD_EVENTS_MAX_BYTES: {{ .events.maxBytes | int64 | toString | quote }}
STEWARD_EVENTS_DUPLICATE_WINDOW_SECONDS: {{ .events.duplicateWindowSeconds | toString | quote }}
{{- end }}
{{- end }}
STEWARD_REGISTRY_GRPC_TARGET: {{ include "steward.registryGrpcTarget" $root | quote }}
{{- if or (eq .svc "meetings") (eq .svc "registry") }}
STEWARD_ISSUES_GRPC_TARGET: {{ printf "%s:%v" (include "steward.serviceName" (dict "root" $root "svc" "issues")) $v.services.issues.ports.grpc | quote }}
{{- end }}
STEWARD_JWT_ISSUER: {{ $v.auth.jwt.issuer | quote }}
STEWARD_JWT_AUDIENCE: {{ $v.auth.jwt.audience | quote }}
{{- if $v.auth.jwt.jwksUrl }}
STEWARD_JWT_JWKS_URL: {{ $v.auth.jwt.jwksUrl | quote }}
{{- end }}
{{- with $v.auth.jwt.jwksMaxAgeSeconds }}
STEWARD_JWT_JWKS_MAX_AGE_SECONDS: {{ . | toString | quote }}
{{- end }}
{{- if hasKey $v.auth.jwt "jwksMinRefetchSeconds" }}
STEWARD_JWT_JWKS_MIN_REFETCH_SECONDS: {{ $v.auth.jwt.jwksMinRefetchSeconds | toString | quote }}
{{- end }}
{{- with $v.auth.serviceClient }}
STEWARD_SERVICE_CLIENT_SECRET_FILE: {{ include "steward.serviceClientSecretPath" $root | quote }}
{{- with .tokenUrl }}
STEWARD_SERVICE_TOKEN_URL: {{ . | quote }}
{{- end }}
{{- with .discoveryUrl }}
STEWARD_OIDC_DISCOVERY_URL: {{ . | quote }}
{{- end }}
{{- with .scope }}
STEWARD_SERVICE_TOKEN_SCOPE: {{ . | quote }}
{{- end }}
{{- with .audience }}
STEWARD_SERVICE_TOKEN_AUDIENCE: {{ . | quote }}
{{- end }}
{{- with .refreshRatio }}
STEWARD_SERVICE_TOKEN_REFRESH_RATIO: {{ . | toString | quote }}
{{- end }}
{{- end }}
{{- if $v.otel.endpoint }}
STEWARD_OTLP_ENDPOINT: {{ $v.otel.endpoint | quote }}
{{- end }}
STEWARD_LOG_LEVEL: {{ $v.config.logLevel | quote }}
STEWARD_LOG_JSON: {{ $v.config.logJson | quote }}
STEWARD_SHUTDOWN_GRACE_SECONDS: {{ $v.pod.shutdownGraceSeconds | quote }}
{{- range $k, $val := $v.config.extraEnv }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- range $k, $val := .cfg.env }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level security context. */}}
{{- define "steward.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.pod.securityContext.runAsUser }}
runAsGroup: {{ .Values.pod.securityContext.runAsGroup }}
fsGroup: {{ .Values.pod.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context. */}}
{{- define "steward.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.pod.securityContext.runAsUser }}
runAsGroup: {{ .Values.pod.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Scheduling settings shared by pods. */}}
{{- define "steward.scheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}
