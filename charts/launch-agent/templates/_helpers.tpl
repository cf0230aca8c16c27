{{/*
Names. Kubernetes names are limited to 63 characters for some fields (DNS-1123 labels), so
they are truncated there. packages/config/src/render/chart-names.ts mirrors these helpers; keep
the two in step (test/chart/render-equivalence.test.ts compares them).
*/}}
{{- define "launch-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "launch-agent.fullname" -}}
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

{{- define "launch-agent.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "launch-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "launch-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "launch-agent.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "launch-agent.labels" -}}
helm.sh/chart: {{ include "launch-agent.chart" . | quote }}
{{ include "launch-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: launch-agent
{{- end }}

{{/* The agent's ServiceAccount, respecting serviceAccount.create. */}}
{{- define "launch-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "launch-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name the ServiceAccount the agent runs as when serviceAccount.create is false (never the namespace's default)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ServiceAccount kaniko build pods run as: no RBAC, no API token. */}}
{{- define "launch-agent.buildServiceAccountName" -}}
{{- if .Values.buildServiceAccount.create }}
{{- default (printf "%s-build" (include "launch-agent.fullname" .)) .Values.buildServiceAccount.name }}
{{- else }}
{{- default "default" .Values.buildServiceAccount.name }}
{{- end }}
{{- end }}

{{- define "launch-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the chart mounts launch-config.yaml: the agent's default config path (HOME is /home/launch_agent). */}}
{{- define "launch-agent.configDir" -}}
/home/launch_agent/.config/wandb
{{- end }}

{{- define "launch-agent.credentialsSecretName" -}}
{{- printf "%s-credentials" (include "launch-agent.fullname" .) }}
{{- end }}

{{/* The inline secret values the chart renders into Secrets; the pod restarts when they change. */}}
{{- define "launch-agent.inlineSecrets" -}}
{{- $inline := dict }}
{{- with .Values.credentials.env }}{{ $_ := set $inline "credentials" . }}{{ end }}
{{- with .Values.kaniko.dockerConfigSecret.dockerConfigJson }}{{ $_ := set $inline "dockerConfigJson" . }}{{ end }}
{{- if $inline }}{{ toYaml $inline }}{{ end }}
{{- end }}

{{/* The dockerconfigjson Secret for kaniko: an existing one, or the chart's when inline content is given. */}}
{{- define "launch-agent.dockerConfigSecretName" -}}
{{- $d := .Values.kaniko.dockerConfigSecret }}
{{- if $d.existingSecret }}
{{- $d.existingSecret }}
{{- else if $d.dockerConfigJson }}
{{- printf "%s-docker-config" (include "launch-agent.fullname" .) }}
{{- end }}
{{- end }}

{{/* Where the agent reads the kaniko docker config Secret (DOCKER_CONFIG points here). */}}
{{- define "launch-agent.dockerConfigDir" -}}
/var/run/launch-agent/docker
{{- end }}

{{/* The claim named by kaniko.contextPvc, existing or created by the chart. */}}
{{- define "launch-agent.contextPvcClaim" -}}
{{- if .Values.kaniko.contextPvc.existingClaim }}
{{- .Values.kaniko.contextPvc.existingClaim }}
{{- else }}
{{- printf "%s-contexts" (include "launch-agent.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Checks on values that a JSON Schema cannot express with a readable message. The same checks
are in packages/config/src/render/launch-config.ts.
*/}}
{{- define "launch-agent.validate" -}}
{{- $wandbKeys := list }}
{{- range $key := list "agent" "namespace" "baseUrl" "launchConfig" "additionalEnvVars" "additionalSecretEnvVars" "gitCreds" "sshAuthSecrets" "azureStorageAccessKey" "customCABundle" "kanikoPvcName" "kanikoDockerConfigSecret" "volcano" }}
{{- if hasKey $.Values $key }}{{ $wandbKeys = append $wandbKeys $key }}{{ end }}
{{- end }}
{{- if $wandbKeys }}
{{- fail (printf "these values are written for W&B's launch-agent chart (%s); this chart does not read them. Convert the file first: launch-agent migrate-values FILE > values.yaml (see docs/migrate-from-wandb.md)" (join ", " $wandbKeys)) }}
{{- end }}
{{- $ns := include "launch-agent.namespace" . }}
{{- if or (gt (len $ns) 63) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $ns)) }}
{{- fail (printf "namespace %q is not a Kubernetes namespace name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit." $ns) }}
{{- end }}
{{- if has $ns (.Values.additionalTargetNamespaces | default list) }}
{{- fail (printf "additionalTargetNamespaces lists %q, the release namespace: it holds the agent's credentials and never runs LaunchJobs. List only tenant namespaces." $ns) }}
{{- end }}
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.create is false and serviceAccount.name is empty: the agent's Roles would be bound to the namespace's \"default\" ServiceAccount, which every pod without one runs as. Name the ServiceAccount the agent runs as." }}
{{- end }}
{{- $k := .Values.kaniko }}
{{- $builder := .Values.agentConfig.builder }}
{{- $type := "" }}
{{- if kindIs "map" $builder }}{{ $type = $builder.type | default "" }}{{ end }}
{{- $kanikoValues := list }}
{{- if $k.contextPvc.enabled }}{{ $kanikoValues = append $kanikoValues "kaniko.contextPvc.enabled" }}{{ end }}
{{- if $k.dockerConfigSecret.existingSecret }}{{ $kanikoValues = append $kanikoValues "kaniko.dockerConfigSecret.existingSecret" }}{{ end }}
{{- if $k.dockerConfigSecret.dockerConfigJson }}{{ $kanikoValues = append $kanikoValues "kaniko.dockerConfigSecret.dockerConfigJson" }}{{ end }}
{{- if $k.azureStorageSecret.name }}{{ $kanikoValues = append $kanikoValues "kaniko.azureStorageSecret.name" }}{{ end }}
{{- if and $kanikoValues (ne $type "kaniko") }}
{{- fail (printf "%s is set, but agentConfig.builder.type is %q: the kaniko.* values only apply to the kaniko builder. Set agentConfig.builder.type: kaniko or unset them." (first $kanikoValues) $type) }}
{{- end }}
{{- if and $k.dockerConfigSecret.existingSecret $k.dockerConfigSecret.dockerConfigJson }}
{{- fail "kaniko.dockerConfigSecret: set existingSecret or dockerConfigJson, not both." }}
{{- end }}
{{- if and .Values.credentials.existingSecret .Values.credentials.env }}
{{- fail "credentials: set existingSecret or env, not both." }}
{{- end }}
{{- if and $k.contextPvc.enabled (kindIs "map" $builder) (hasKey $builder "build-context-store") }}
{{- $want := include "launch-agent.contextPvcStore" . }}
{{- if ne (index $builder "build-context-store") $want }}
{{- fail (printf "agentConfig.builder.build-context-store is %q but kaniko.contextPvc.enabled asks for %q: set one of the two." (index $builder "build-context-store") $want) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "launch-agent.contextPvcStore" -}}
{{- $path := trimAll "/" .Values.kaniko.contextPvc.path }}
{{- if $path }}
{{- printf "pvc://%s/%s" (include "launch-agent.contextPvcClaim" .) $path }}
{{- else }}
{{- printf "pvc://%s" (include "launch-agent.contextPvcClaim" .) }}
{{- end }}
{{- end }}

{{/*
The rendered launch-config.yaml as a dict, serialised with toYaml by the ConfigMap:
agentConfig, plus
  - a kubernetes block: namespace, service-account, build-service-account, target-namespaces
    (keys already set under agentConfig.kubernetes win);
  - the kaniko.* values reflected into agentConfig.builder (keys already set there win):
    build-context-store pvc://<claim>[/path], context-pvc-mount-path, docker-config-secret,
    azure-storage-secret {name, key}.
packages/config/src/render/launch-config.ts computes the same object.
*/}}
{{- define "launch-agent.launchConfig" -}}
{{- $config := deepCopy (.Values.agentConfig | default dict) }}
{{- $ns := include "launch-agent.namespace" . }}
{{- $targets := list }}
{{- range .Values.additionalTargetNamespaces }}
{{- if not (has . $targets) }}{{ $targets = append $targets . }}{{ end }}
{{- end }}
{{- $kube := dict "namespace" $ns "service-account" (include "launch-agent.serviceAccountName" .) "build-service-account" (include "launch-agent.buildServiceAccountName" .) "target-namespaces" $targets }}
{{- $userKube := dict }}
{{- if kindIs "map" (get $config "kubernetes") }}{{ $userKube = get $config "kubernetes" }}{{ end }}
{{- range $key, $value := $kube }}
{{- if not (hasKey $userKube $key) }}{{ $_ := set $userKube $key $value }}{{ end }}
{{- end }}
{{- $_ := set $config "kubernetes" $userKube }}
{{- $builder := get $config "builder" }}
{{- if kindIs "map" $builder }}
{{- $k := .Values.kaniko }}
{{- if and $k.contextPvc.enabled (not (hasKey $builder "build-context-store")) }}
{{- $_ := set $builder "build-context-store" (include "launch-agent.contextPvcStore" .) }}
{{- end }}
{{- if and (hasPrefix "pvc://" (toString (get $builder "build-context-store"))) (not (hasKey $builder "context-pvc-mount-path")) }}
{{- $_ := set $builder "context-pvc-mount-path" "/var/run/launch-agent/contexts" }}
{{- end }}
{{- $dockerSecret := include "launch-agent.dockerConfigSecretName" . }}
{{- if and $dockerSecret (not (hasKey $builder "docker-config-secret")) }}
{{- $_ := set $builder "docker-config-secret" $dockerSecret }}
{{- end }}
{{- if and $k.azureStorageSecret.name (not (hasKey $builder "azure-storage-secret")) }}
{{- $_ := set $builder "azure-storage-secret" (dict "name" $k.azureStorageSecret.name "key" $k.azureStorageSecret.key) }}
{{- end }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
The claim the agent mounts for a pvc:// build-context store (from kaniko.contextPvc or from a
pvc:// store written into agentConfig), and where; empty when the store is not a claim.
*/}}
{{- define "launch-agent.contextMount" -}}
{{- $config := include "launch-agent.launchConfig" . | fromYaml }}
{{- $builder := get $config "builder" }}
{{- if kindIs "map" $builder }}
{{- $store := toString (get $builder "build-context-store") }}
{{- if hasPrefix "pvc://" $store }}
{{- $claim := first (splitList "/" (trimPrefix "pvc://" $store)) }}
{{- toYaml (dict "claim" $claim "mountPath" (get $builder "context-pvc-mount-path")) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cloud identity annotations for a ServiceAccount. Argument: dict with aws, gcp, azure. */}}
{{- define "launch-agent.workloadIdentityAnnotations" -}}
{{- if .aws.roleArn }}
eks.amazonaws.com/role-arn: {{ .aws.roleArn | quote }}
{{- end }}
{{- if .gcp.serviceAccount }}
iam.gke.io/gcp-service-account: {{ .gcp.serviceAccount | quote }}
{{- end }}
{{- if .azure.clientId }}
azure.workload.identity/client-id: {{ .azure.clientId | quote }}
{{- end }}
{{- if .azure.tenantId }}
azure.workload.identity/tenant-id: {{ .azure.tenantId | quote }}
{{- end }}
{{- end }}

{{/*
The build ServiceAccount's identity: its own values only. Build pods run a Dockerfile's RUN steps
as root; with the agent's role they could act as the agent in the cloud. The agent mints
short-lived push credentials for each build, so the build needs a role only to read a cloud
build-context store, and then one of its own, limited to that.
*/}}
{{- define "launch-agent.buildWorkloadIdentity" -}}
{{- $own := .Values.buildServiceAccount.workloadIdentity }}
{{- $aws := dict "roleArn" $own.aws.roleArn }}
{{- $gcp := dict "serviceAccount" $own.gcp.serviceAccount }}
{{- $azure := dict "clientId" $own.azure.clientId "tenantId" (ternary .Values.workloadIdentity.azure.tenantId "" (ne $own.azure.clientId "")) }}
{{- toYaml (dict "aws" $aws "gcp" $gcp "azure" $azure) }}
{{- end }}

{{/* The ClusterRole submitters are bound to in tenant namespaces; unique per release. */}}
{{- define "launch-agent.submitterRoleName" -}}
{{- printf "%s-%s-submitter" (include "launch-agent.namespace" .) (include "launch-agent.fullname" .) | trunc 253 -}}
{{- end }}

{{/* The dashboard's pods: a name of their own, so no selector of the agent's (its Deployment, PDB, NetworkPolicy) matches them. */}}
{{- define "launch-agent.dashboardSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-dashboard" (include "launch-agent.name" .) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: dashboard
{{- end }}
