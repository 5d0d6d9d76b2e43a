{{/*
A worker Deployment (consumer, projector, publisher): the same pod shape, another command.
(dict "root" $ "component" "projector" "role" .Values.projector "args" (list "project")
      "redis" true "kafka" false)
*/}}
{{- define "mastery.workerDeployment" -}}
{{- $root := .root }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mastery.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "mastery.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  annotations:
    {{- include "mastery.workloadAnnotations" $root | nindent 4 }}
spec:
  replicas: {{ .role.replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "mastery.selectorLabels" (dict "root" $root "component" .component) | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # One pod at a time: for the projector and the publisher the standby keeps running while
      # the other is replaced, so a leader is always close at hand.
      maxUnavailable: 1
      maxSurge: 0
  template:
    metadata:
      labels:
        {{- include "mastery.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      annotations:
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- with .role.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "mastery.podCommon" (dict "root" $root "role" .role "component" .component) | nindent 6 }}
      # SIGTERM finishes the batch in hand; give it time.
      terminationGracePeriodSeconds: 60
      containers:
        - name: {{ .component }}
          image: {{ include "mastery.image" $root }}
          imagePullPolicy: {{ include "mastery.pullPolicy" $root }}
          args:
            {{- toYaml .args | nindent 12 }}
          env:
            {{- include "mastery.env" (dict "root" $root "redis" .redis "kafka" .kafka) | nindent 12 }}
          {{- include "mastery.workerProbes" (dict "root" $root "role" .component) | nindent 10 }}
          resources:
            {{- toYaml .role.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "mastery.volumeMounts" (dict "root" $root "kafka" .kafka) | nindent 12 }}
      volumes:
        {{- include "mastery.volumes" (dict "root" $root "kafka" .kafka) | nindent 8 }}
{{- end }}
