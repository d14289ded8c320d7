{{/*
Names, labels, the image, and the pieces every Strata pod shares: security contexts, probes, environment and
volumes. Security settings are fixed here (Pod Security "restricted"); values.schema.json offers no key to weaken
them.
*/}}

{{- define "strata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name; kept at 42 characters so "-scheduler-headless" (19) still fits in 63. */}}
{{- define "strata.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "strata.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "strata.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "strata.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "strata.tag" .) }}
{{- if .Values.image.digest }}
{{- $ref = printf "%s@%s" $ref .Values.image.digest }}
{{- end }}
{{- $ref }}
{{- end }}

{{/* Labels on every object; call with (dict "ctx" $ "component" "scheduler"). */}}
{{- define "strata.labels" -}}
helm.sh/chart: {{ include "strata.chart" .ctx }}
{{ include "strata.selectorLabels" . }}
app.kubernetes.io/version: {{ include "strata.tag" .ctx | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: strata
{{- end }}

{{/* Selector labels: stable across upgrades (never the version). */}}
{{- define "strata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strata.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Pod labels: user podLabels first, so they cannot replace the standard or selector labels. */}}
{{- define "strata.podLabels" -}}
{{- $labels := dict }}
{{- range $k, $v := .podLabels }}{{ $_ := set $labels $k ($v | toString) }}{{ end }}
{{- range $k, $v := (include "strata.labels" . | fromYaml) }}{{ $_ := set $labels $k ($v | toString) }}{{ end }}
{{- toYaml $labels }}
{{- end }}

{{- define "strata.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "strata.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "strata.schedulerHeadless" -}}
{{- printf "%s-scheduler-headless:50050" (include "strata.fullname" .) }}
{{- end }}

{{/* Pod Security "restricted": the pod level. */}}
{{- define "strata.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod Security "restricted": the container level, and a read-only root filesystem. */}}
{{- define "strata.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Startup, liveness and readiness probes on the container's port named http. */}}
{{- define "strata.probes" -}}
{{- $p := .Values.probes }}
startupProbe:
  httpGet:
    path: /livez
    port: http
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
livenessProbe:
  httpGet:
    path: /livez
    port: http
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
{{- end }}

{{/* The pod's own IP (--external-host), then credentials from the user's Secrets; never a literal secret. */}}
{{- define "strata.env" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- with .Values.objectStore }}
{{- if .existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.accessKeyId }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.secretAccessKey }}
{{- if .existingSecretKeys.sessionToken }}
- name: AWS_SESSION_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.sessionToken }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.postgres }}
{{- if .existingSecret }}
- name: STRATA_PG_USER
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.user }}
- name: STRATA_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.password }}
{{- end }}
{{- end }}
{{- with .Values.kafka }}
{{- if .existingSecret }}
- name: STRATA_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.username }}
- name: STRATA_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .existingSecret }}
      key: {{ .existingSecretKeys.password }}
{{- end }}
{{- end }}
{{- range .Values.extraSecretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
{{- end }}
{{- end }}

{{- define "strata.envFrom" -}}
- configMapRef:
    name: {{ include "strata.fullname" . }}-config
{{- end }}

{{/* Pod template annotations: the ConfigMap's checksum (config changes roll the pods), then the user's. */}}
{{- define "strata.podAnnotations" -}}
checksum/config: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Scheduling fields shared by the pod specs; call with a component's values. */}}
{{- define "strata.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{- define "strata.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Termination grace: drain + 30 by default; refused below drain + 5. Call with (list component values). */}}
{{- define "strata.terminationGrace" -}}
{{- $name := index . 0 }}{{ $v := index . 1 }}
{{- $drain := int $v.drainTimeoutSeconds }}
{{- if kindIs "invalid" $v.terminationGracePeriodSeconds }}
{{- add $drain 30 }}
{{- else }}
{{- $grace := int $v.terminationGracePeriodSeconds }}
{{- if lt $grace (add $drain 5) }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be at least %s.drainTimeoutSeconds (%d) + 5: the pod would be killed while it drains" $name $grace $name $drain) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}

{{/* Credential-like key names under a values section, appended to $acc.found; call with (list acc path map). */}}
{{- define "strata.findPlainSecrets" -}}
{{- $acc := index . 0 }}{{ $path := index . 1 }}{{ $obj := index . 2 }}
{{- if kindIs "map" $obj }}
{{- range $k, $val := $obj }}
{{- if not (has $k (list "existingSecret" "existingSecretKeys" "clientTlsSecret")) }}
{{- if regexMatch "(?i)(pass(word|wd)|secret|token|access_?key|private_?key|credential|api_?key)" $k }}
{{- $_ := set $acc "found" (append $acc.found (printf "%s.%s" $path $k)) }}
{{- end }}
{{- include "strata.findPlainSecrets" (list $acc (printf "%s.%s" $path $k) $val) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* helm test: TLS arguments of the client commands (query, submit). */}}
{{- define "strata.testTlsArgs" -}}
{{- if .Values.tls.enabled }}
- --tls-ca=/etc/strata/tls/ca.crt
{{- if .Values.tls.clientAuth }}
- --tls-client-cert=/etc/strata/client-tls/tls.crt
- --tls-client-key=/etc/strata/client-tls/tls.key
{{- end }}
{{- end }}
{{- end }}

{{/* helm test: what both test containers share after image and args (login, limits, security, mounts). */}}
{{- define "strata.testContainer" -}}
{{- $t := .Values.tests }}
{{- $secret := default .Values.auth.existingSecret $t.existingSecret }}
{{- if not .Values.auth.insecure }}
env:
  - name: STRATA_FLIGHT_USER
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $t.existingSecretKeys.user }}
  - name: STRATA_FLIGHT_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ $secret }}
        key: {{ $t.existingSecretKeys.password }}
{{- end }}
resources:
  {{- toYaml $t.resources | nindent 2 }}
securityContext:
  {{- include "strata.containerSecurityContext" . | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: test-job
    mountPath: /etc/strata/test-job
    readOnly: true
  {{- if .Values.tls.enabled }}
  - name: tls-ca
    mountPath: /etc/strata/tls
    readOnly: true
  {{- if .Values.tls.clientAuth }}
  - name: client-tls
    mountPath: /etc/strata/client-tls
    readOnly: true
  {{- end }}
  {{- end }}
{{- end }}

{{/*
The Kafka TLS Secret (kafka.tls.existingSecret), for every process that reads or writes Kafka: a volumeMounts item
and a volumes item (empty when unset). The configmap points STRATA_KAFKA_SSL_* at these files.
*/}}
{{- define "strata.kafkaTlsMount" -}}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/strata/kafka-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "strata.kafkaTlsVolume" -}}
{{- with .Values.kafka.tls }}
{{- if .existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .existingSecret }}
    defaultMode: 0440
    items:
      - key: ca.crt
        path: ca.crt
      {{- if .clientCertificate }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}
{{- end }}
