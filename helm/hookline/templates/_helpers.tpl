{{- define "hookline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hookline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "hookline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hookline.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hookline
{{- end -}}

{{- define "hookline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hookline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "hookline.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "hookline.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Joins a map into key=value,key=value (sorted keys). */}}
{{- define "hookline.kv" -}}
{{- $out := list -}}
{{- range $k, $v := . -}}
{{- $out = append $out (printf "%s=%v" $k $v) -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* Non-secret settings shared by every service and the topics Job, as a YAML map. */}}
{{- define "hookline.configData" -}}
{{- $v := .Values -}}
HOOKLINE_KAFKA_BROKERS: {{ $v.kafka.brokers | quote }}
{{- with $v.kafka.securityProtocol }}
HOOKLINE_KAFKA_SECURITY_PROTOCOL: {{ . | quote }}
{{- end }}
{{- with $v.kafka.saslMechanism }}
HOOKLINE_KAFKA_SASL_MECHANISM: {{ . | quote }}
{{- end }}
{{- with $v.kafka.options }}
HOOKLINE_KAFKA_OPTIONS: {{ join "," . | quote }}
{{- end }}
{{- if $v.kafka.tls.caSecret }}
HOOKLINE_KAFKA_SSL_CA_LOCATION: "/etc/hookline/kafka-ca/{{ $v.kafka.tls.caKey }}"
{{- end }}
{{- if $v.kafka.tls.clientSecret }}
HOOKLINE_KAFKA_SSL_CERTIFICATE_LOCATION: "/etc/hookline/kafka-client/{{ $v.kafka.tls.certKey }}"
HOOKLINE_KAFKA_SSL_KEY_LOCATION: "/etc/hookline/kafka-client/{{ $v.kafka.tls.keyKey }}"
{{- end }}
HOOKLINE_CREATE_TOPICS: {{ not $v.topics.create | quote }}
HOOKLINE_TOPIC_PARTITIONS: {{ $v.topics.partitions | quote }}
HOOKLINE_TOPIC_REPLICATION: {{ $v.topics.replication | quote }}
HOOKLINE_TOPIC_CONFIGS: {{ include "hookline.kv" (merge (deepCopy $v.topics.configs) (dict "retention.ms" ($v.topics.retentionMs | int64 | toString))) | quote }}
{{- with $v.topics.compactedConfigs }}
HOOKLINE_COMPACTED_TOPIC_CONFIGS: {{ include "hookline.kv" . | quote }}
{{- end }}
HOOKLINE_TOPIC_PREFIX: {{ $v.config.topicPrefix | quote }}
{{- if not $v.redis.existingSecret }}
HOOKLINE_REDIS_URL: {{ $v.redis.url | quote }}
{{- with $v.redis.clusterNodes }}
HOOKLINE_REDIS_CLUSTER_NODES: {{ join "," . | quote }}
{{- end }}
{{- end }}
HOOKLINE_REDIS_KEY_PREFIX: {{ $v.redis.keyPrefix | quote }}
{{- if and (not $v.secretKey.existingSecret) $v.secretKey.allowPlaintext }}
HOOKLINE_ALLOW_PLAINTEXT_SECRETS: "true"
{{- end }}
HOOKLINE_DRAIN_TIMEOUT_SECS: {{ $v.config.drainTimeoutSecs | quote }}
HOOKLINE_ADMIN_ADDR: "0.0.0.0:9100"
HOOKLINE_LOG_FORMAT: {{ $v.config.logFormat | quote }}
RUST_LOG: {{ $v.config.logLevel | quote }}
{{- range $k, $val := $v.config.env }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{/* Environment from existing Secrets (and what depends on them), for every container. */}}
{{- define "hookline.secretEnv" -}}
{{- $v := .Values -}}
{{- if $v.kafka.sasl.existingSecret }}
- name: HOOKLINE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ $v.kafka.sasl.existingSecret | quote }}, key: {{ $v.kafka.sasl.usernameKey | quote }}}
- name: HOOKLINE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.kafka.sasl.existingSecret | quote }}, key: {{ $v.kafka.sasl.passwordKey | quote }}}
{{- end }}
{{- if $v.redis.existingSecret }}
- name: HOOKLINE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $v.redis.existingSecret | quote }}, key: {{ $v.redis.passwordKey | quote }}}
{{- $parts := splitn "://" 2 $v.redis.url }}
- name: HOOKLINE_REDIS_URL
  value: {{ printf "%s://:$(HOOKLINE_REDIS_PASSWORD)@%s" $parts._0 $parts._1 | quote }}
{{- with $v.redis.clusterNodes }}
{{- $nodes := list }}
{{- range . }}
{{- $node := splitn "://" 2 . }}
{{- $nodes = append $nodes (printf "%s://:$(HOOKLINE_REDIS_PASSWORD)@%s" $node._0 $node._1) }}
{{- end }}
- name: HOOKLINE_REDIS_CLUSTER_NODES
  value: {{ join "," $nodes | quote }}
{{- end }}
{{- end }}
{{- if $v.secretKey.existingSecret }}
- name: HOOKLINE_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ $v.secretKey.existingSecret | quote }}, key: {{ $v.secretKey.key | quote }}}
{{- end }}
{{- if $v.adminToken.existingSecret }}
- name: HOOKLINE_ADMIN_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ $v.adminToken.existingSecret | quote }}, key: {{ $v.adminToken.key | quote }}}
{{- end }}
{{- end -}}

{{- define "hookline.kafkaVolumeMounts" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/hookline/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  mountPath: /etc/hookline/kafka-client
  readOnly: true
{{- end }}
{{- end -}}

{{- define "hookline.kafkaVolumes" -}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret | quote }}
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientSecret | quote }}
{{- end }}
{{- end -}}

{{/* Consumer group of a service (the services' defaults unless overridden in env). */}}
{{- define "hookline.consumerGroup" -}}
{{- if eq .name "api" -}}hookline-api-attempts{{- else -}}hookline-{{ .name }}{{- end -}}
{{- end -}}
