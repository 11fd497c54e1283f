{{/* Chart name. */}}
{{- define "hotcert.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "hotcert.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades, never helm.sh/chart. */}}
{{- define "hotcert.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hotcert.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Common labels. */}}
{{- define "hotcert.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "hotcert.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hotcert
{{- end }}

{{- define "hotcert.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hotcert.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The kubernetes.io/tls Secret that is served. */}}
{{- define "hotcert.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "hotcert.fullname" .) }}
{{- end }}
{{- end }}

{{- define "hotcert.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when hotcert talks to the Kubernetes API. */}}
{{- define "hotcert.apiMode" -}}
{{- if or .Values.hotcert.watchSecretThroughApi .Values.hotcert.events }}true{{ end }}
{{- end }}

{{/* "true" when more than one replica can run (replicaCount, or the HPA). */}}
{{- define "hotcert.multiReplica" -}}
{{- if or (gt (int .Values.replicaCount) 1) (and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) 1)) }}true{{ end }}
{{- end }}

{{/* Socket.IO transports: long-polling needs every request of a session on one pod, so with
several replicas and no sticky sessions only WebSocket is offered. */}}
{{- define "hotcert.transports" -}}
{{- if ne .Values.socketio.transports "auto" }}{{ .Values.socketio.transports }}
{{- else if and (include "hotcert.multiReplica" .) (not .Values.socketio.stickySessions) }}websocket
{{- else }}polling,websocket
{{- end }}
{{- end }}

{{/* Invalid combinations fail the render with a message that says what to change. */}}
{{- define "hotcert.validate" -}}
{{- if and .Values.certificate.create .Values.existingSecret }}
{{- fail "certificate.create and existingSecret are exclusive: either let the chart create a cert-manager Certificate or name an existing Secret" }}
{{- end }}
{{- if and .Values.certificate.create (not .Values.certificate.issuerRef.name) }}
{{- fail "certificate.create needs certificate.issuerRef.name (a cert-manager Issuer or ClusterIssuer)" }}
{{- end }}
{{- if and .Values.certificate.create (not .Values.certificate.dnsNames) }}
{{- fail "certificate.create needs at least one entry in certificate.dnsNames" }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add .Values.hotcert.shutdownTimeoutSeconds .Values.preStopSleepSeconds | int) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed hotcert.shutdownTimeoutSeconds + preStopSleepSeconds (%d), or the kubelet kills hotcert mid-drain" (int .Values.terminationGracePeriodSeconds) (add .Values.hotcert.shutdownTimeoutSeconds .Values.preStopSleepSeconds | int)) }}
{{- end }}
{{- if and (include "hotcert.apiMode" .) (not .Values.rbac.create) (not .Values.serviceAccount.name) }}
{{- fail "hotcert.watchSecretThroughApi/hotcert.events need API permissions: keep rbac.create, or set serviceAccount.name to an account you have granted get/list/watch on the Secret (and create/patch on events)" }}
{{- end }}
{{- if and (include "hotcert.multiReplica" .) (not .Values.redis.url) }}
{{- fail "several replicas (replicaCount > 1 or autoscaling) need redis.url: without the Redis adapter a room message reaches only the sockets of the pod it was published on" }}
{{- end }}
{{- if and (include "hotcert.multiReplica" .) (not .Values.socketio.stickySessions) (has "polling" (splitList "," .Values.socketio.transports)) }}
{{- fail "socketio.transports offers polling with several replicas but socketio.stickySessions is false: long-polling requests of one session would reach different pods; use transports auto or websocket, or set up cookie affinity and stickySessions: true" }}
{{- end }}
{{- if and .Values.redis.tls.caSecret (not (hasPrefix "rediss://" .Values.redis.url)) }}
{{- fail "redis.tls.caSecret needs a rediss:// redis.url (TLS to Redis)" }}
{{- end }}
{{- if eq (int .Values.hotcert.port) (int .Values.hotcert.metricsPort) }}
{{- fail "hotcert.port and hotcert.metricsPort must differ" }}
{{- end }}
{{- end }}
