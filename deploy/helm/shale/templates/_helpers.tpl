{{/*
Naming and labelling helpers shared by every template of the shale chart.
*/}}

{{- define "shale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (DNS label limit).
*/}}
{{- define "shale.fullname" -}}
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

{{- define "shale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "shale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shale.labels" -}}
helm.sh/chart: {{ include "shale.chart" . }}
{{ include "shale.selectorLabels" . }}
app.kubernetes.io/component: gateway
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "shale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shale.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "shale.configMapName" -}}
{{- default (include "shale.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{- define "shale.secretName" -}}
{{- default (include "shale.fullname" .) .Values.masterKey.existingSecret }}
{{- end }}

{{- define "shale.secretKey" -}}
{{- if .Values.masterKey.existingSecret }}
{{- default "SHALE_MASTER_KEY" .Values.masterKey.existingSecretKey }}
{{- else }}
{{- print "SHALE_MASTER_KEY" }}
{{- end }}
{{- end }}

{{- define "shale.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Minimum number of replicas the workload runs with (HPA floor or fixed count).
*/}}
{{- define "shale.minReplicas" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}
