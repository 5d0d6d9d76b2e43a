{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "mastery.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mastery.fullname" -}}
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

{{- define "mastery.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "mastery.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mastery-engine
{{- end }}

{{/* The labels selecting one role's pods: (dict "root" $ "component" "api") */}}
{{- define "mastery.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mastery.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "mastery.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mastery.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mastery.secretName" -}}
{{- default (include "mastery.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "mastery.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Always for a tag (which may be moved), IfNotPresent for a digest (which cannot). */}}
{{- define "mastery.pullPolicy" -}}
{{- default (ternary "IfNotPresent" "Always" (not (empty .Values.image.digest))) .Values.image.pullPolicy }}
{{- end }}

{{/*
The checkov checks a workload does not meet, each with its reason (deploy/checks.py scans the
rendered manifests and counts every other failed check as a finding).
*/}}
{{- define "mastery.workloadAnnotations" -}}
checkov.io/skip1: "CKV_K8S_35=The engine reads its settings, secrets included, from MASTERY_* environment variables (SPEC 9): each secret comes from a Secret by secretKeyRef, never as a literal in a manifest, and the engine never logs one"
{{- if not .Values.image.digest }}
checkov.io/skip2: "CKV_K8S_43=Pulled by tag (image.tag, pull policy Always): a digest is known only once an image is pushed; set image.digest to pull by digest"
{{- end }}
{{- end }}

{{/* Checks: a release that cannot work is refused when it is rendered ------------------------- */}}

{{- define "mastery.validate" -}}
{{- $s := .Values.secrets }}
{{- if not $s.existingSecret }}
{{- if not $s.databaseUrl }}{{ fail "secrets.databaseUrl is required (postgresql://user:password@host:5432/dbname), or secrets.existingSecret" }}{{ end }}
{{- if not (hasPrefix "postgres" $s.databaseUrl) }}{{ fail "secrets.databaseUrl must be a postgresql:// URL" }}{{ end }}
{{- if not $s.redisUrl }}{{ fail "secrets.redisUrl is required (redis://host:6379/0), or secrets.existingSecret" }}{{ end }}
{{- if not (or $s.jwtSecret $s.jwtPublicKey) }}{{ fail "secrets.jwtSecret or secrets.jwtPublicKey is required, or secrets.existingSecret" }}{{ end }}
{{- if not $s.masterKey }}{{ fail "secrets.masterKey is required (base64 of 32 bytes: `mastery keys generate`), or secrets.existingSecret; the chart never generates one" }}{{ end }}
{{- if not (regexMatch "^[A-Za-z0-9+/]{43}=$" $s.masterKey) }}{{ fail "secrets.masterKey must be base64 of 32 bytes (44 characters ending in =)" }}{{ end }}
{{- end }}
{{- if and (or .Values.consumer.enabled .Values.publisher.enabled) (not .Values.kafka.bootstrapServers) }}
{{- fail "kafka.bootstrapServers is required while the consumer or the publisher is enabled" }}
{{- end }}
{{- if and .Values.consumer.enabled (gt (mul (int .Values.consumer.replicas) (int .Values.consumer.workers)) (int .Values.kafka.topics.partitions)) }}
{{- fail (printf "consumer.replicas x consumer.workers (%d) exceeds kafka.topics.partitions (%d): the extra group members would get no partition" (mul (int .Values.consumer.replicas) (int .Values.consumer.workers)) (int .Values.kafka.topics.partitions)) }}
{{- end }}
{{- if $s.existingSecret }}
{{- range $name := list "databaseUrl" "redisUrl" "jwtSecret" "jwtPublicKey" "masterKey" "previousMasterKeys" }}
{{- if index $s $name }}{{ fail (printf "secrets.%s would be ignored beside secrets.existingSecret: put it in that Secret" $name) }}{{ end }}
{{- end }}
{{- if $.Values.kafka.saslPassword }}{{ fail "kafka.saslPassword would be ignored beside secrets.existingSecret: put it in that Secret's kafka-config" }}{{ end }}
{{- end }}
{{- if and .Values.kafka.config .Values.secrets.existingSecret }}
{{- fail "with secrets.existingSecret, put the whole librdkafka JSON object under that Secret's kafka-config key, not in kafka.config" }}
{{- end }}
{{- if hasKey .Values.kafka.config "sasl.password" }}
{{- fail "put the SASL password in kafka.saslPassword (it goes into the Secret), not in kafka.config" }}
{{- end }}
{{- end }}

{{/* What every pod runs with -------------------------------------------------------------- */}}

{{/* One variable from the release's Secret: (dict "name" "MASTERY_X" "key" "x" "optional" true "root" $) */}}
{{- define "mastery.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mastery.secretName" .root }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/*
The environment of a role: (dict "root" $ "redis" true "kafka" true "jwt" false)
Each role gets only the connections and secrets it uses.
*/}}
{{- define "mastery.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- include "mastery.secretEnv" (dict "name" "MASTERY_DATABASE_URL" "key" "database-url" "root" $root) }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_MASTER_KEY" "key" "master-key" "root" $root) }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_PREVIOUS_MASTER_KEYS" "key" "previous-master-keys" "optional" true "root" $root) }}
{{- if .redis }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_REDIS_URL" "key" "redis-url" "root" $root) }}
{{- if $v.redis.cluster }}
- name: MASTERY_REDIS_CLUSTER
  value: "true"
{{- end }}
{{- if $v.redis.prefix }}
- name: MASTERY_REDIS_PREFIX
  value: {{ $v.redis.prefix | quote }}
{{- end }}
{{- end }}
{{- if .kafka }}
- name: MASTERY_KAFKA_BOOTSTRAP_SERVERS
  value: {{ $v.kafka.bootstrapServers | quote }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_KAFKA_CONFIG" "key" "kafka-config" "optional" true "root" $root) }}
- name: MASTERY_KAFKA_REQUESTS_TOPIC
  value: {{ $v.kafka.topics.requests | quote }}
- name: MASTERY_KAFKA_RESULTS_TOPIC
  value: {{ $v.kafka.topics.results | quote }}
- name: MASTERY_KAFKA_DLQ_TOPIC
  value: {{ $v.kafka.topics.dlq | quote }}
- name: MASTERY_KAFKA_PARTITIONS
  value: {{ $v.kafka.topics.partitions | toString | quote }}
- name: MASTERY_KAFKA_REPLICATION_FACTOR
  value: {{ $v.kafka.topics.replicationFactor | toString | quote }}
- name: MASTERY_KAFKA_GROUP_ID
  value: {{ $v.kafka.groupId | quote }}
{{- end }}
{{- if .jwt }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_JWT_SECRET" "key" "jwt-secret" "optional" true "root" $root) }}
{{ include "mastery.secretEnv" (dict "name" "MASTERY_JWT_PUBLIC_KEY" "key" "jwt-public-key" "optional" true "root" $root) }}
{{- with $v.jwt.issuer }}
- name: MASTERY_JWT_ISSUER
  value: {{ . | quote }}
{{- end }}
{{- with $v.jwt.audience }}
- name: MASTERY_JWT_AUDIENCE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := $v.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The writable /tmp, the Kafka certificates where Kafka is used, and the extra volumes. */}}
{{- define "mastery.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpVolume.sizeLimit }}
{{- if and .kafka .root.Values.kafka.certificatesSecret }}
- name: kafka-certificates
  secret:
    secretName: {{ .root.Values.kafka.certificatesSecret }}
    defaultMode: 0440
{{- end }}
{{- with .root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "mastery.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .kafka .root.Values.kafka.certificatesSecret }}
- name: kafka-certificates
  mountPath: /etc/mastery/kafka
  readOnly: true
{{- end }}
{{- with .root.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The pod spec's common part: (dict "root" $ "role" .Values.api "component" "api") */}}
{{- define "mastery.podCommon" -}}
serviceAccountName: {{ include "mastery.serviceAccountName" .root }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .role.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
affinity:
{{- if .role.affinity }}
  {{- toYaml .role.affinity | nindent 2 }}
{{- else }}
  # By default a role's pods prefer different nodes: a node's loss then takes one projector
  # (or publisher) of two, and the standby takes over.
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "mastery.selectorLabels" (dict "root" .root "component" .component) | nindent 14 }}
{{- end }}
{{- end }}

{{/* Exec probes of a worker role: (dict "root" $ "role" "projector") */}}
{{- define "mastery.workerProbes" -}}
{{- $p := .root.Values.workerProbes -}}
startupProbe:
  exec:
    command: ["mastery", "ready", {{ .role | quote }}]
  periodSeconds: 10
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: 30
readinessProbe:
  exec:
    command: ["mastery", "ready", {{ .role | quote }}]
  periodSeconds: {{ $p.periodSeconds }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.failureThreshold }}
livenessProbe:
  exec:
    command: ["mastery", "ready", {{ .role | quote }}]
  periodSeconds: {{ mul $p.periodSeconds 2 }}
  timeoutSeconds: {{ $p.timeoutSeconds }}
  failureThreshold: {{ $p.failureThreshold }}
{{- end }}
