import { describe, expect, it } from 'vitest';
import { formatFieldError, parseManifests, validatePod, validateStaticPodName, type KubeObject } from '../../manifests/index.js';

// Parity with the API server's ValidatePodCreate (pkg/apis/core/validation/validation.go):
// each rule below is one upstream check, one manifest it rejects and the field path of the
// error; then manifests after the Kubernetes documentation's examples that it accepts.

/* eslint-disable @typescript-eslint/no-explicit-any */
const BASE = () => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web' },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 80 }] }] } as any,
});
const errorsOf = (mutate: (p: any) => void): string[] => {
  const p = BASE();
  mutate(p);
  return validatePod(p as KubeObject).map(formatFieldError);
};

interface Rule {
  /** The upstream function that holds the check. */
  upstream: string;
  what: string;
  mutate: (p: any) => void;
  /** The error's field path, then its body (type and detail) as the API server writes it. */
  error: string;
}

const c0 = (p: any) => p.spec.containers[0];
const RULES: Rule[] = [
  { upstream: 'validateSeccompAnnotationsAndFieldsMatch', what: 'pod seccomp annotation and field disagree', mutate: (p) => { p.metadata.annotations = { 'seccomp.security.alpha.kubernetes.io/pod': 'unconfined' }; p.spec.securityContext = { seccompProfile: { type: 'RuntimeDefault' } }; },
    error: 'spec.securityContext.seccompProfile.type: Forbidden: seccomp type in annotation and field must match' },
  { upstream: 'validateSeccompAnnotationsAndFieldsMatch', what: 'container seccomp annotation names another Localhost profile', mutate: (p) => { p.metadata.annotations = { 'container.seccomp.security.alpha.kubernetes.io/web': 'localhost/a.json' }; c0(p).securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: 'b.json' } }; },
    error: 'spec.containers[0].securityContext.seccompProfile.localhostProfile: Forbidden: seccomp profile in annotation and field must match' },
  { upstream: 'ValidateSeccompProfile', what: 'a seccomp annotation that is no profile', mutate: (p) => { p.metadata.annotations = { 'seccomp.security.alpha.kubernetes.io/pod': 'default' }; },
    error: 'metadata.annotations.seccomp.security.alpha.kubernetes.io/pod: Invalid value: "default": must be a valid seccomp profile' },
  { upstream: 'ValidateSeccompProfile', what: 'a Localhost seccomp annotation escaping its directory', mutate: (p) => { p.metadata.annotations = { 'container.seccomp.security.alpha.kubernetes.io/web': 'localhost/../x.json' }; },
    error: 'metadata.annotations.container.seccomp.security.alpha.kubernetes.io/web: Invalid value: "../x.json": must not contain \'..\'' },
  { upstream: 'ValidateAppArmorPodAnnotations', what: 'an AppArmor annotation for no container', mutate: (p) => { p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/other': 'runtime/default' }; },
    error: 'metadata.annotations[container.apparmor.security.beta.kubernetes.io/other]: Invalid value: "other": container not found' },
  { upstream: 'ValidateAppArmorProfileFormat', what: 'an AppArmor annotation that is no profile', mutate: (p) => { p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/web': 'docker-default' }; },
    error: 'metadata.annotations[container.apparmor.security.beta.kubernetes.io/web]: Invalid value: "docker-default": invalid AppArmor profile name: "docker-default"' },
  { upstream: 'validateAppArmorAnnotationsAndFieldsMatchOnCreate', what: 'AppArmor annotation and the pod field disagree (reported at the container)', mutate: (p) => { p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/web': 'unconfined' }; p.spec.securityContext = { appArmorProfile: { type: 'RuntimeDefault' } }; },
    error: 'spec.containers[0].securityContext.appArmorProfile.type: Forbidden: apparmor type in annotation and field must match' },
  { upstream: 'validateAppArmorAnnotationsAndFieldsMatchOnCreate', what: 'AppArmor annotation names another Localhost profile', mutate: (p) => { p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/web': 'localhost/a' }; c0(p).securityContext = { appArmorProfile: { type: 'Localhost', localhostProfile: 'b' } }; },
    error: 'spec.containers[0].securityContext.appArmorProfile.localhostProfile: Forbidden: apparmor profile in annotation and field must match' },
  { upstream: 'validateSeccompProfileField', what: 'Localhost seccomp without localhostProfile (pod)', mutate: (p) => { p.spec.securityContext = { seccompProfile: { type: 'Localhost' } }; },
    error: 'spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost' },
  { upstream: 'validateSeccompProfileField', what: 'Localhost seccomp without localhostProfile (container)', mutate: (p) => { c0(p).securityContext = { seccompProfile: { type: 'Localhost' } }; },
    error: 'spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost' },
  { upstream: 'validateSeccompProfileField', what: 'localhostProfile with RuntimeDefault', mutate: (p) => { c0(p).securityContext = { seccompProfile: { type: 'RuntimeDefault', localhostProfile: 'x.json' } }; },
    error: 'spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: "x.json": can only be set when seccomp type is Localhost' },
  { upstream: 'validateSeccompProfileField', what: 'Localhost seccomp profile escaping its directory', mutate: (p) => { c0(p).securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: '../x.json' } }; },
    error: 'spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: "../x.json": must not contain \'..\'' },
  { upstream: 'ValidateAppArmorProfileField', what: 'Localhost AppArmor without localhostProfile (pod)', mutate: (p) => { p.spec.securityContext = { appArmorProfile: { type: 'Localhost' } }; },
    error: 'spec.securityContext.appArmorProfile.localhostProfile: Required value: must be set when AppArmor type is Localhost' },
  { upstream: 'ValidateAppArmorProfileField', what: 'Localhost AppArmor without localhostProfile (container)', mutate: (p) => { c0(p).securityContext = { appArmorProfile: { type: 'Localhost', localhostProfile: '' } }; },
    error: 'spec.containers[0].securityContext.appArmorProfile.localhostProfile: Required value: must be set when AppArmor type is Localhost' },
  { upstream: 'ValidateAppArmorProfileField', what: 'AppArmor profile padded with spaces', mutate: (p) => { c0(p).securityContext = { appArmorProfile: { type: 'Localhost', localhostProfile: ' k8s ' } }; },
    error: 'spec.containers[0].securityContext.appArmorProfile.localhostProfile: Invalid value: " k8s ": must not be padded with whitespace' },
  { upstream: 'AccumulateUniqueHostPorts', what: 'the same hostPort in two containers', mutate: (p) => {
    c0(p).ports = [{ containerPort: 80, hostPort: 8080 }];
    p.spec.containers.push({ name: 'two', image: 'nginx:1.27', ports: [{ containerPort: 81, hostPort: 8080 }] });
  }, error: 'spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"' },
  { upstream: 'validatePodDNSConfig', what: 'more than 3 nameservers', mutate: (p) => { p.spec.dnsConfig = { nameservers: ['1.1.1.1', '1.0.0.1', '8.8.8.8', '8.8.4.4'] }; },
    error: 'spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","1.0.0.1","8.8.8.8","8.8.4.4"]: must not have more than 3 nameservers' },
  { upstream: 'validatePodDNSConfig', what: 'a nameserver that is not an IP', mutate: (p) => { p.spec.dnsConfig = { nameservers: ['dns.example.com'] }; },
    error: 'spec.dnsConfig.nameservers[0]: Invalid value: "dns.example.com": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' },
  { upstream: 'validatePodDNSConfig', what: 'a search domain that is not a DNS name', mutate: (p) => { p.spec.dnsConfig = { searches: ['Bad_Domain!'] }; },
    error: 'spec.dnsConfig.searches[0]: Invalid value: "Bad_Domain!": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'_\', \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*\')' },
  { upstream: 'validatePodDNSConfig', what: 'more than 32 search domains', mutate: (p) => { p.spec.dnsConfig = { searches: Array.from({ length: 33 }, (_, i) => `d${i}.example`) }; },
    error: 'must not have more than 32 search paths' },
  { upstream: 'validatePodDNSConfig', what: 'a search list over 2048 characters', mutate: (p) => { p.spec.dnsConfig = { searches: Array.from({ length: 9 }, (_, i) => `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(50)}${i}`) }; },
    error: 'must not have more than 2048 characters (including spaces) in the search list' },
  { upstream: 'validatePodDNSConfig', what: 'an option without a name', mutate: (p) => { p.spec.dnsConfig = { options: [{ value: '2' }] }; },
    error: 'spec.dnsConfig.options[0]: Required value: must not be empty' },
  { upstream: 'ValidateHostAliases', what: 'a hostAlias with a bad IP', mutate: (p) => { p.spec.hostAliases = [{ ip: '10.0.0.300', hostnames: ['db'] }]; },
    error: 'spec.hostAliases[0].ip: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)' },
  { upstream: 'ValidateHostAliases', what: 'a hostAlias with a bad hostname', mutate: (p) => { p.spec.hostAliases = [{ ip: '10.0.0.3', hostnames: ['Not_A_Host'] }]; },
    error: 'spec.hostAliases[0].hostnames[0]: Invalid value: "Not_A_Host": a lowercase RFC 1123 subdomain' },
  { upstream: 'validateReadinessGates', what: 'a readiness gate that is not a qualified name', mutate: (p) => { p.spec.readinessGates = [{ conditionType: 'bad/gate/x' }]; },
    error: 'spec.readinessGates[0].conditionType: Invalid value: "bad/gate/x": a qualified name' },
  { upstream: 'validateSchedulingGates', what: 'a scheduling gate that is not a qualified name', mutate: (p) => { p.spec.schedulingGates = [{ name: 'not a gate' }]; },
    error: 'spec.schedulingGates[0]: Invalid value: "not a gate": name part must consist of' },
  { upstream: 'validateSchedulingGates', what: 'the same scheduling gate twice', mutate: (p) => { p.spec.schedulingGates = [{ name: 'example.com/gate' }, { name: 'example.com/gate' }]; },
    error: 'spec.schedulingGates[1]: Duplicate value: "example.com/gate"' },
  { upstream: 'ValidatePodCreate', what: 'scheduling gates on a pod bound to its node', mutate: (p) => { p.spec.schedulingGates = [{ name: 'example.com/gate' }]; },
    error: 'spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared' },
  { upstream: 'ValidatePodCreate', what: 'ephemeral containers on create', mutate: (p) => { p.spec.ephemeralContainers = [{ name: 'debug', image: 'busybox:1' }]; },
    error: 'spec.ephemeralContainers: Forbidden: cannot be set on create' },
  { upstream: 'ValidateLabels (nodeSelector)', what: 'a nodeSelector key that is not a label key', mutate: (p) => { p.spec.nodeSelector = { 'bad key': 'x' }; },
    error: 'spec.nodeSelector: Invalid value: "bad key": name part must consist of' },
  { upstream: 'ValidateLabels (nodeSelector)', what: 'a nodeSelector value that is not a label value', mutate: (p) => { p.spec.nodeSelector = { disktype: 'not ok' }; },
    error: 'spec.nodeSelector: Invalid value: "not ok": a valid label must be an empty string' },
  { upstream: 'ValidateNodeSelector', what: 'required node affinity without terms', mutate: (p) => { p.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }; },
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term' },
  { upstream: 'ValidateNodeSelectorRequirement', what: 'In without values', mutate: (p) => { p.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In' }] }] } } }; },
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is \'In\' or \'NotIn\'' },
  { upstream: 'ValidateNodeSelectorRequirement', what: 'an unknown operator', mutate: (p) => { p.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Near', values: ['a'] }] }] } } }; },
    error: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Near": not a valid selector operator' },
  { upstream: 'ValidateNodeSelectorRequirement', what: 'Gt with two values', mutate: (p) => { p.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['1', '2'] }] }] } } }; },
    error: "nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'" },
  { upstream: 'ValidatePreferredSchedulingTerms', what: 'a preferred term weighing 0', mutate: (p) => { p.spec.affinity = { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, preference: { matchExpressions: [{ key: 'zone', operator: 'Exists' }] } }] } }; },
    error: 'spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100' },
  { upstream: 'ValidateNodeFieldSelectorRequirement', what: 'matchFields on a key other than metadata.name', mutate: (p) => { p.spec.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'spec.unschedulable', operator: 'In', values: ['x'] }] }] } } }; },
    error: 'matchFields[0].key: Invalid value: "spec.unschedulable": not a valid field selector key' },
  { upstream: 'validatePodAffinityTerm', what: 'a pod affinity term without topologyKey', mutate: (p) => { p.spec.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } } }] } }; },
    error: 'spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty' },
  { upstream: 'validateWeightedPodAffinityTerms', what: 'an anti-affinity term weighing 101', mutate: (p) => { p.spec.affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 101, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' } }] } }; },
    error: 'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100' },
  { upstream: 'ValidateLabelSelectorRequirement', what: 'Exists with values in a pod affinity selector', mutate: (p) => { p.spec.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] } }] } }; },
    error: "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'" },
  { upstream: 'validatePodAffinityTerm', what: 'a namespace that is not a DNS label', mutate: (p) => { p.spec.affinity = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', namespaces: ['Bad_NS'] }] } }; },
    error: 'spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespace: Invalid value: "Bad_NS"' },
  { upstream: 'ValidateMaxSkew', what: 'maxSkew 0', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]; },
    error: 'spec.topologySpreadConstraints[0].maxSkew: Invalid value: 0: must be greater than zero' },
  { upstream: 'ValidateTopologyKey', what: 'no topologyKey', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }]; },
    error: 'spec.topologySpreadConstraints[0].topologyKey: Required value: can not be empty' },
  { upstream: 'ValidateWhenUnsatisfiable', what: 'an unknown whenUnsatisfiable', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'Sometimes' }]; },
    error: 'spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value: "Sometimes": supported values: "DoNotSchedule", "ScheduleAnyway"' },
  { upstream: 'ValidateSpreadConstraintNotRepeat', what: 'the same {topologyKey, whenUnsatisfiable} twice', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }, { maxSkew: 2, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }]; },
    error: 'spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}: Duplicate value: "{zone, DoNotSchedule}"' },
  { upstream: 'validateMinDomains', what: 'minDomains with ScheduleAnyway', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 }]; },
    error: 'spec.topologySpreadConstraints[0].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway' },
  { upstream: 'validateNodeInclusionPolicy', what: 'an unknown nodeTaintsPolicy', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', nodeTaintsPolicy: 'Maybe' }]; },
    error: 'spec.topologySpreadConstraints[0].nodeTaintsPolicy: Unsupported value: "Maybe": supported values: "Honor", "Ignore"' },
  { upstream: 'validateMatchLabelKeysInTopologySpread', what: 'matchLabelKeys without labelSelector', mutate: (p) => { p.spec.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule', matchLabelKeys: ['pod-template-hash'] }]; },
    error: 'spec.topologySpreadConstraints[0].matchLabelKeys: Forbidden: must not be specified when labelSelector is not set' },
  { upstream: 'validateResizePolicy', what: 'a resize policy for a resource that cannot be resized', mutate: (p) => { c0(p).resizePolicy = [{ resourceName: 'ephemeral-storage', restartPolicy: 'NotRequired' }]; },
    error: 'spec.containers[0].resizePolicy: Unsupported value: "ephemeral-storage": supported values: "cpu", "memory"' },
  { upstream: 'validateResizePolicy', what: 'the same resource twice', mutate: (p) => { c0(p).resizePolicy = [{ resourceName: 'cpu', restartPolicy: 'NotRequired' }, { resourceName: 'cpu', restartPolicy: 'RestartContainer' }]; },
    error: 'spec.containers[0].resizePolicy[1]: Duplicate value: "cpu"' },
  { upstream: 'validateResizePolicy', what: 'an unknown resize restart policy', mutate: (p) => { c0(p).resizePolicy = [{ resourceName: 'memory', restartPolicy: 'Sometimes' }]; },
    error: 'spec.containers[0].resizePolicy: Unsupported value: "Sometimes": supported values: "NotRequired", "RestartContainer"' },
  { upstream: 'validateResizePolicy', what: 'RestartContainer in a pod that never restarts', mutate: (p) => { p.spec.restartPolicy = 'Never'; c0(p).resizePolicy = [{ resourceName: 'memory', restartPolicy: 'RestartContainer' }]; },
    error: 'spec.containers[0].resizePolicy: Invalid value: "RestartContainer": must be \'NotRequired\' when `restartPolicy` is \'Never\'' },
  { upstream: 'validateHostUsers', what: 'hostUsers false with hostNetwork', mutate: (p) => { p.spec.hostUsers = false; p.spec.hostNetwork = true; c0(p).ports = []; },
    error: 'spec.hostNetwork: Forbidden: when `pod.Spec.HostUsers` is false' },
  { upstream: 'validateHostUsers', what: 'hostUsers false with hostPID', mutate: (p) => { p.spec.hostUsers = false; p.spec.hostPID = true; },
    error: 'spec.HostPID: Forbidden: when `pod.Spec.HostUsers` is false' },
  { upstream: 'validateHostUsers', what: 'hostUsers false with hostIPC', mutate: (p) => { p.spec.hostUsers = false; p.spec.hostIPC = true; },
    error: 'spec.HostIPC: Forbidden: when `pod.Spec.HostUsers` is false' },
  { upstream: 'validateSysctls', what: 'a sysctl name with bad syntax', mutate: (p) => { p.spec.securityContext = { sysctls: [{ name: 'net..ipv4', value: '1' }] }; },
    error: 'spec.securityContext.sysctls[0].name: Invalid value: "net..ipv4": must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$' },
  { upstream: 'validateSysctls', what: 'the same sysctl twice', mutate: (p) => { p.spec.securityContext = { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }, { name: 'kernel.shm_rmid_forced', value: '0' }] }; },
    error: 'spec.securityContext.sysctls[1].name: Duplicate value: "kernel.shm_rmid_forced"' },
  { upstream: 'ValidateHostSysctl', what: 'a net.* sysctl with hostNetwork', mutate: (p) => { p.spec.hostNetwork = true; c0(p).ports = []; p.spec.securityContext = { sysctls: [{ name: 'net.ipv4.ip_local_port_range', value: '1024 65535' }] }; },
    error: "spec.securityContext.sysctls[0].name: Invalid value: \"net.ipv4.ip_local_port_range\": may not be specified when 'hostNetwork' is true" },
  { upstream: 'ValidateHostSysctl', what: 'an IPC sysctl with hostIPC', mutate: (p) => { p.spec.hostIPC = true; p.spec.securityContext = { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] }; },
    error: "spec.securityContext.sysctls[0].name: Invalid value: \"kernel.shm_rmid_forced\": may not be specified when 'hostIPC' is true" },
  { upstream: 'validatePodSpecSecurityContext', what: 'shareProcessNamespace with hostPID', mutate: (p) => { p.spec.shareProcessNamespace = true; p.spec.hostPID = true; },
    error: 'spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled' },
  { upstream: 'ValidateServiceAccountName', what: 'a serviceAccountName that is not a DNS subdomain', mutate: (p) => { p.spec.serviceAccountName = 'My_Account'; },
    error: 'spec.serviceAccountName: Invalid value: "My_Account": a lowercase RFC 1123 subdomain' },
  { upstream: 'ValidatePriorityClassName', what: 'a priorityClassName that is not a DNS subdomain', mutate: (p) => { p.spec.priorityClassName = 'High Priority'; },
    error: 'spec.priorityClassName: Invalid value: "High Priority": a lowercase RFC 1123 subdomain' },
  { upstream: 'ValidateRuntimeClassName', what: 'a runtimeClassName that is not a DNS subdomain', mutate: (p) => { p.spec.runtimeClassName = 'gVisor'; },
    error: 'spec.runtimeClassName: Invalid value: "gVisor": a lowercase RFC 1123 subdomain' },
  { upstream: 'validateHostPathVolumeSource', what: "a hostPath with '..'", mutate: (p) => { p.spec.volumes = [{ name: 'h', hostPath: { path: '/var/lib/../../etc' } }]; },
    error: 'spec.volumes[0].hostPath.path: Invalid value: "/var/lib/../../etc": must not contain \'..\'' },
  { upstream: 'validatePodHostNetworkDeps', what: 'a hostPort other than the containerPort with hostNetwork', mutate: (p) => { p.spec.hostNetwork = true; c0(p).ports = [{ containerPort: 80, hostPort: 8080 }]; },
    error: 'spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true' },
  { upstream: 'ValidateSecurityContext', what: 'procMount Unmasked without a user namespace', mutate: (p) => { c0(p).securityContext = { procMount: 'Unmasked' }; },
    error: 'spec.containers[0].securityContext.procMount: Invalid value: "Unmasked": `hostUsers` must be false to use `Unmasked`' },
  { upstream: 'validateLinux', what: 'windowsOptions in a linux pod', mutate: (p) => { p.spec.os = { name: 'linux' }; c0(p).securityContext = { windowsOptions: { runAsUserName: 'x' } }; },
    error: 'spec.containers[0].securityContext.windowsOptions: Forbidden: windows options cannot be set for a linux pod' },
];

describe('validation parity with ValidatePodCreate: one manifest each upstream rule rejects', () => {
  it.each(RULES.map((r) => [`${r.upstream}: ${r.what}`, r] as const))('%s', (_, r) => {
    const errs = errorsOf(r.mutate);
    expect(errs.some((e) => e.includes(r.error)), `expected an error containing\n  ${r.error}\ngot\n  ${errs.join('\n  ')}`).toBe(true);
  });

  it('rejects a name that fits 253 characters only without the node suffix', () => {
    const name = 'a'.repeat(250);
    expect(validatePod({ ...BASE(), metadata: { name } } as KubeObject)).toEqual([]);
    expect(validateStaticPodName(name, 'node1').map(formatFieldError)).toEqual([`metadata.name: Invalid value: "${name}-node1": must be no more than 253 characters`]);
    expect(validateStaticPodName('web', 'Node1')).toEqual([]);
  });
});

// --- accepted ---------------------------------------------------------------------------------

const doc = (name: string, spec: string, meta = '') => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n${meta}spec:\n${spec}`;
const NGINX = '  containers:\n    - name: nginx\n      image: nginx:1.27\n';

/** After the examples of kubernetes.io (concepts and tasks pages) and the API reference. */
const VALID: Record<string, string> = {
  'minimal pod (Pods concept)': doc('nginx', `${NGINX}      ports:\n        - containerPort: 80\n`),
  'command and args (define a command)': doc('command-demo', `  restartPolicy: OnFailure\n  containers:\n    - name: command-demo-container\n      image: debian\n      command: ["printenv"]\n      args: ["HOSTNAME", "KUBERNETES_PORT"]\n`),
  'env with dependent variables': doc('dependent-envars-demo', `  containers:\n    - name: app\n      image: busybox:1.28\n      command: ["sh", "-c"]\n      args: ["echo $(SERVICE_ADDRESS)"]\n      env:\n        - name: SERVICE_PORT\n          value: "80"\n        - name: SERVICE_IP\n          value: "172.17.0.1"\n        - name: SERVICE_ADDRESS\n          value: "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"\n`),
  'downward API env (fieldRef, resourceFieldRef)': doc('dapi-envars-fieldref', `  containers:\n    - name: test-container\n      image: registry.k8s.io/busybox\n      command: ["sh", "-c", "sleep 3600"]\n      resources:\n        requests: {memory: "32Mi", cpu: "125m"}\n        limits: {memory: "64Mi", cpu: "250m"}\n      env:\n        - name: MY_NODE_NAME\n          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}\n        - name: MY_POD_IP\n          valueFrom: {fieldRef: {fieldPath: status.podIP}}\n        - name: MY_CPU_LIMIT\n          valueFrom: {resourceFieldRef: {containerName: test-container, resource: limits.cpu}}\n`),
  'configMap and secret env': doc('env-refs', `  containers:\n    - name: app\n      image: busybox:1.28\n      envFrom:\n        - configMapRef: {name: special-config}\n        - secretRef: {name: mysecret, optional: true}\n          prefix: SECRET_\n      env:\n        - name: SPECIAL_LEVEL_KEY\n          valueFrom: {configMapKeyRef: {name: special-config, key: special.how}}\n`),
  'liveness exec probe': doc('liveness-exec', `  containers:\n    - name: liveness\n      image: registry.k8s.io/busybox\n      args: ["/bin/sh", "-c", "touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600"]\n      livenessProbe:\n        exec: {command: ["cat", "/tmp/healthy"]}\n        initialDelaySeconds: 5\n        periodSeconds: 5\n`, '  labels:\n    test: liveness\n'),
  'liveness httpGet probe with a named port and headers': doc('liveness-http', `  containers:\n    - name: liveness\n      image: registry.k8s.io/e2e-test-images/agnhost:2.40\n      args: ["liveness"]\n      ports:\n        - name: liveness-port\n          containerPort: 8080\n      livenessProbe:\n        httpGet:\n          path: /healthz\n          port: liveness-port\n          httpHeaders:\n            - name: Custom-Header\n              value: Awesome\n        failureThreshold: 1\n        periodSeconds: 10\n      startupProbe:\n        httpGet: {path: /healthz, port: liveness-port}\n        failureThreshold: 30\n        periodSeconds: 10\n`),
  'tcpSocket readiness and liveness with named port': doc('goproxy', `  containers:\n    - name: goproxy\n      image: registry.k8s.io/goproxy:0.1\n      ports:\n        - name: proxy\n          containerPort: 8080\n      readinessProbe:\n        tcpSocket: {port: proxy}\n      livenessProbe:\n        tcpSocket: {port: 8080}\n        initialDelaySeconds: 15\n        periodSeconds: 10\n`),
  'gRPC liveness probe': doc('etcd-with-grpc', `  containers:\n    - name: etcd\n      image: registry.k8s.io/etcd:3.5.1-0\n      command: ["/usr/local/bin/etcd", "--data-dir", "/var/lib/etcd", "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379", "--log-level", "debug"]\n      ports:\n        - containerPort: 2379\n      livenessProbe:\n        grpc:\n          port: 2379\n        initialDelaySeconds: 10\n`),
  'probe-level terminationGracePeriodSeconds': doc('probe-grace', `  terminationGracePeriodSeconds: 3600\n  containers:\n    - name: test\n      image: nginx:1.27\n      ports:\n        - name: liveness-port\n          containerPort: 8080\n      livenessProbe:\n        httpGet: {path: /healthz, port: liveness-port}\n        failureThreshold: 1\n        periodSeconds: 60\n        terminationGracePeriodSeconds: 60\n`),
  'lifecycle hooks (postStart exec, preStop sleep)': doc('lifecycle-demo', `  containers:\n    - name: lifecycle-demo-container\n      image: nginx\n      lifecycle:\n        postStart:\n          exec: {command: ["/bin/sh", "-c", "echo Hello > /usr/share/message"]}\n        preStop:\n          sleep: {seconds: 5}\n`),
  'lifecycle stopSignal with os linux': doc('stop-signal', `  os: {name: linux}\n  containers:\n    - name: nginx\n      image: nginx:1.27\n      lifecycle:\n        stopSignal: SIGUSR1\n`),
  'init containers (init containers concept)': doc('myapp-pod', `  containers:\n    - name: myapp-container\n      image: busybox:1.28\n      command: ['sh', '-c', 'echo The app is running! && sleep 3600']\n  initContainers:\n    - name: init-myservice\n      image: busybox:1.28\n      command: ['sh', '-c', "until nslookup myservice; do echo waiting; sleep 2; done"]\n`, '  labels:\n    app.kubernetes.io/name: MyApp\n'),
  'sidecar container with probes (sidecar concept)': doc('sidecar', `  containers:\n    - name: myapp\n      image: alpine:latest\n      command: ['sh', '-c', 'while true; do echo "logging" >> /opt/logs.txt; sleep 1; done']\n      volumeMounts:\n        - name: data\n          mountPath: /opt\n  initContainers:\n    - name: logshipper\n      image: alpine:latest\n      restartPolicy: Always\n      command: ['sh', '-c', 'tail -F /opt/logs.txt']\n      startupProbe:\n        exec: {command: ["test", "-f", "/opt/logs.txt"]}\n      readinessProbe:\n        exec: {command: ["true"]}\n      lifecycle:\n        preStop:\n          exec: {command: ["sleep", "1"]}\n      volumeMounts:\n        - name: data\n          mountPath: /opt\n  volumes:\n    - name: data\n      emptyDir: {}\n`),
  'emptyDir on memory with sizeLimit': doc('test-pd', `${NGINX}      volumeMounts:\n        - mountPath: /cache\n          name: cache-volume\n  volumes:\n    - name: cache-volume\n      emptyDir:\n        medium: Memory\n        sizeLimit: 500Mi\n`),
  'hostPath with type': doc('hostpath-example-linux', `  os: {name: linux}\n  nodeSelector:\n    kubernetes.io/os: linux\n${NGINX}      volumeMounts:\n        - mountPath: /foo\n          name: example-volume\n          readOnly: true\n  volumes:\n    - name: example-volume\n      hostPath:\n        path: /data/foo\n        type: DirectoryOrCreate\n`),
  'configMap volume with items': doc('configmap-pod', `  containers:\n    - name: test\n      image: busybox:1.28\n      command: ['sh', '-c', 'echo "The app is running!" && tail -f /dev/null']\n      volumeMounts:\n        - name: config-vol\n          mountPath: /etc/config\n  volumes:\n    - name: config-vol\n      configMap:\n        name: log-config\n        items:\n          - key: log_level\n            path: log_level.conf\n`),
  'secret volume with defaultMode': doc('secret-test-pod', `${NGINX}      volumeMounts:\n        - name: secret-volume\n          mountPath: /etc/secret-volume\n          readOnly: true\n  volumes:\n    - name: secret-volume\n      secret:\n        secretName: test-secret\n        defaultMode: 0400\n`),
  'downwardAPI volume': doc('kubernetes-downwardapi-volume-example', `  containers:\n    - name: client-container\n      image: registry.k8s.io/busybox\n      command: ["sh", "-c"]\n      args: ["while true; do cat /etc/podinfo/labels; sleep 5; done"]\n      volumeMounts:\n        - name: podinfo\n          mountPath: /etc/podinfo\n  volumes:\n    - name: podinfo\n      downwardAPI:\n        items:\n          - path: "labels"\n            fieldRef: {fieldPath: metadata.labels}\n          - path: "annotations"\n            fieldRef: {fieldPath: metadata.annotations}\n`, '  labels:\n    zone: us-est-coast\n'),
  'projected volume (secret, downwardAPI, configMap, token)': doc('volume-test', `  serviceAccountName: default\n  containers:\n    - name: container-test\n      image: busybox:1.28\n      volumeMounts:\n        - name: all-in-one\n          mountPath: "/projected-volume"\n          readOnly: true\n  volumes:\n    - name: all-in-one\n      projected:\n        sources:\n          - secret:\n              name: mysecret\n              items:\n                - key: username\n                  path: my-group/my-username\n          - downwardAPI:\n              items:\n                - path: "labels"\n                  fieldRef: {fieldPath: metadata.labels}\n          - configMap:\n              name: myconfigmap\n              items:\n                - key: config\n                  path: my-group/my-config\n          - serviceAccountToken:\n              audience: api\n              expirationSeconds: 3600\n              path: token\n`),
  'persistentVolumeClaim (refused at admission, valid here)': doc('task-pv-pod', `  volumes:\n    - name: task-pv-storage\n      persistentVolumeClaim:\n        claimName: task-pv-claim\n${NGINX}      volumeMounts:\n        - mountPath: "/usr/share/nginx/html"\n          name: task-pv-storage\n`),
  'nfs volume': doc('nfs-pod', `${NGINX}      volumeMounts:\n        - mountPath: /my-nfs-data\n          name: test-volume\n  volumes:\n    - name: test-volume\n      nfs:\n        server: my-nfs-server.example.com\n        path: /my-nfs-volume\n        readOnly: true\n`),
  'csi ephemeral volume': doc('my-csi-app', `  containers:\n    - name: my-frontend\n      image: busybox:1.28\n      volumeMounts:\n        - mountPath: "/data"\n          name: my-csi-inline-vol\n      command: ["sleep", "1000000"]\n  volumes:\n    - name: my-csi-inline-vol\n      csi:\n        driver: inline.storage.kubernetes.io\n        volumeAttributes:\n          foo: bar\n`),
  'generic ephemeral volume': doc('my-app', `  containers:\n    - name: my-frontend\n      image: busybox:1.28\n      volumeMounts:\n        - mountPath: "/scratch"\n          name: scratch-volume\n      command: ["sleep", "1000000"]\n  volumes:\n    - name: scratch-volume\n      ephemeral:\n        volumeClaimTemplate:\n          metadata:\n            labels:\n              type: my-frontend-volume\n          spec:\n            accessModes: ["ReadWriteOnce"]\n            storageClassName: "scratch-storage-class"\n            resources:\n              requests:\n                storage: 1Gi\n`),
  'image volume': doc('image-volume', `  containers:\n    - name: shell\n      command: ["sleep", "infinity"]\n      image: debian\n      volumeMounts:\n        - name: volume\n          mountPath: /volume\n  volumes:\n    - name: volume\n      image:\n        reference: quay.io/crio/artifact:v2\n        pullPolicy: IfNotPresent\n`),
  'iscsi and other in-tree volumes by name': doc('iscsipd', `  containers:\n    - name: iscsipd-rw\n      image: kubernetes/pause\n      volumeMounts:\n        - mountPath: "/mnt/iscsipd"\n          name: iscsipd-rw\n  volumes:\n    - name: iscsipd-rw\n      iscsi:\n        targetPortal: 10.0.2.15:3260\n        iqn: iqn.2001-04.com.example:storage.kube.sys1.xyz\n        lun: 0\n        fsType: ext4\n        readOnly: true\n`),
  'subPath and subPathExpr': doc('pod1', `  containers:\n    - name: container1\n      env:\n        - name: POD_NAME\n          valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}\n      image: busybox:1.28\n      command: ["sleep", "3600"]\n      volumeMounts:\n        - name: workdir1\n          mountPath: /logs\n          subPathExpr: $(POD_NAME)\n        - name: workdir1\n          mountPath: /other\n          subPath: other\n  restartPolicy: Never\n  volumes:\n    - name: workdir1\n      hostPath:\n        path: /var/log/pods\n`),
  'security context (pod and container, seLinuxOptions)': doc('security-context-demo', `  securityContext:\n    runAsUser: 1000\n    runAsGroup: 3000\n    fsGroup: 2000\n    supplementalGroups: [4000]\n    fsGroupChangePolicy: "OnRootMismatch"\n    seLinuxOptions:\n      level: "s0:c123,c456"\n  volumes:\n    - name: sec-ctx-vol\n      emptyDir: {}\n  containers:\n    - name: sec-ctx-demo\n      image: busybox:1.28\n      command: ["sh", "-c", "sleep 1h"]\n      volumeMounts:\n        - name: sec-ctx-vol\n          mountPath: /data/demo\n      securityContext:\n        allowPrivilegeEscalation: false\n        capabilities:\n          add: ["NET_ADMIN", "SYS_TIME"]\n        seLinuxOptions:\n          user: system_u\n          role: system_r\n          type: spc_t\n          level: s0\n`),
  'seccomp profiles (RuntimeDefault, Localhost)': doc('audit-pod', `  securityContext:\n    seccompProfile:\n      type: RuntimeDefault\n  containers:\n    - name: test-container\n      image: hashicorp/http-echo:1.0\n      args: ["-text=just made some syscalls!"]\n      securityContext:\n        allowPrivilegeEscalation: false\n        seccompProfile:\n          type: Localhost\n          localhostProfile: profiles/audit.json\n`, '  labels:\n    app: audit-pod\n'),
  'AppArmor profiles (pod and container)': doc('hello-apparmor', `  securityContext:\n    appArmorProfile:\n      type: RuntimeDefault\n  containers:\n    - name: hello\n      image: busybox:1.28\n      command: ["sh", "-c", "echo 'Hello AppArmor!' && sleep 1h"]\n      securityContext:\n        appArmorProfile:\n          type: Localhost\n          localhostProfile: k8s-apparmor-example-deny-write\n`),
  'sysctls, procMount, supplementalGroupsPolicy': doc('sysctl-example', `  hostUsers: false\n  securityContext:\n    supplementalGroupsPolicy: Strict\n    sysctls:\n      - name: kernel.shm_rmid_forced\n        value: "0"\n      - name: net.core.somaxconn\n        value: "1024"\n      - name: net/ipv4/ip_local_port_range\n        value: "1024 65535"\n${NGINX}      securityContext:\n        procMount: Unmasked\n`),
  'node affinity (required and preferred)': doc('with-node-affinity', `  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n          - matchExpressions:\n              - key: topology.kubernetes.io/zone\n                operator: In\n                values:\n                  - antarctica-east1\n                  - antarctica-west1\n      preferredDuringSchedulingIgnoredDuringExecution:\n        - weight: 1\n          preference:\n            matchExpressions:\n              - key: another-node-label-key\n                operator: In\n                values:\n                  - another-node-label-value\n  containers:\n    - name: with-node-affinity\n      image: registry.k8s.io/pause:3.8\n`),
  'node affinity with Gt and matchFields': doc('node-fields', `  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n          - matchExpressions:\n              - {key: example.com/cores, operator: Gt, values: ["4"]}\n              - {key: example.com/gpu, operator: DoesNotExist}\n          - matchFields:\n              - {key: metadata.name, operator: In, values: ["node-1"]}\n${NGINX}`),
  'pod affinity and anti-affinity': doc('with-pod-affinity', `  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        - labelSelector:\n            matchExpressions:\n              - key: security\n                operator: In\n                values:\n                  - S1\n          topologyKey: topology.kubernetes.io/zone\n    podAntiAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n        - weight: 100\n          podAffinityTerm:\n            labelSelector:\n              matchExpressions:\n                - key: security\n                  operator: In\n                  values:\n                    - S2\n            topologyKey: topology.kubernetes.io/zone\n            namespaces: [default, kube-system]\n            matchLabelKeys: [pod-template-hash]\n  containers:\n    - name: with-pod-affinity\n      image: registry.k8s.io/pause:3.8\n`),
  'tolerations (taints and tolerations)': doc('nginx-tolerations', `${NGINX}      imagePullPolicy: IfNotPresent\n  tolerations:\n    - key: "example-key"\n      operator: "Exists"\n      effect: "NoSchedule"\n    - key: "key1"\n      operator: "Equal"\n      value: "value1"\n      effect: "NoExecute"\n      tolerationSeconds: 3600\n    - operator: Exists\n`, '  labels:\n    env: test\n'),
  'topology spread constraints': doc('mypod', `  topologySpreadConstraints:\n    - maxSkew: 1\n      topologyKey: zone\n      whenUnsatisfiable: DoNotSchedule\n      minDomains: 2\n      labelSelector:\n        matchLabels:\n          foo: bar\n      matchLabelKeys: [pod-template-hash]\n      nodeAffinityPolicy: Honor\n      nodeTaintsPolicy: Ignore\n    - maxSkew: 1\n      topologyKey: node\n      whenUnsatisfiable: ScheduleAnyway\n      labelSelector:\n        matchExpressions:\n          - {key: foo, operator: Exists}\n  containers:\n    - name: pause\n      image: registry.k8s.io/pause:3.1\n`, '  labels:\n    foo: bar\n'),
  'resizePolicy (resize CPU and memory)': doc('resize-demo', `  containers:\n    - name: pause\n      image: registry.k8s.io/pause:3.8\n      resizePolicy:\n        - resourceName: cpu\n          restartPolicy: NotRequired\n        - resourceName: memory\n          restartPolicy: RestartContainer\n      resources:\n        limits: {memory: "200Mi", cpu: "700m"}\n        requests: {memory: "200Mi", cpu: "700m"}\n`),
  'pod-level resources': doc('pod-resources-demo', `  resources:\n    limits: {cpu: "1", memory: "200Mi"}\n    requests: {cpu: "1", memory: "100Mi"}\n  containers:\n    - name: pod-resources-demo-ctr-1\n      image: nginx\n      resources:\n        limits: {cpu: "0.5", memory: "100Mi"}\n        requests: {cpu: "0.5", memory: "50Mi"}\n    - name: pod-resources-demo-ctr-2\n      image: fedora\n      command: ["sleep", "inf"]\n`),
  'dnsConfig with dnsPolicy None': doc('dns-example', `  containers:\n    - name: test\n      image: nginx\n  dnsPolicy: "None"\n  dnsConfig:\n    nameservers:\n      - 192.0.2.1\n      - 2001:db8::1\n    searches:\n      - ns1.svc.cluster-domain.example\n      - my.dns.search.suffix.\n      - _sip._tcp.example.com\n      - "."\n    options:\n      - name: ndots\n        value: "2"\n      - name: edns0\n`, '  namespace: default\n'),
  'hostAliases': doc('hostaliases-pod', `  restartPolicy: Never\n  hostAliases:\n    - ip: "127.0.0.1"\n      hostnames: ["foo.local", "bar.local"]\n    - ip: "10.1.2.3"\n      hostnames: ["foo.remote", "bar.remote"]\n  containers:\n    - name: cat-hosts\n      image: busybox:1.28\n      command: [cat]\n      args: ["/etc/hosts"]\n`),
  'hostNetwork with matching hostPort': doc('hostnet', `  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n${NGINX}      ports:\n        - containerPort: 8080\n          hostPort: 8080\n`),
  'distinct hostPorts across protocols and init containers': doc('hostports', `  initContainers:\n    - name: init\n      image: busybox:1.28\n      ports: [{containerPort: 53, hostPort: 5353, protocol: UDP}]\n  containers:\n    - name: dns\n      image: busybox:1.28\n      ports:\n        - {containerPort: 53, hostPort: 5353, protocol: UDP}\n        - {containerPort: 53, hostPort: 5353, protocol: TCP}\n`),
  'readiness gates, priority, runtime class, scheduler': doc('gated', `  readinessGates:\n    - conditionType: "www.example.com/feature-1"\n  priorityClassName: high-priority\n  priority: 1000000\n  preemptionPolicy: Never\n  runtimeClassName: runc\n  schedulerName: my-scheduler\n  serviceAccountName: build-robot\n  automountServiceAccountToken: false\n  enableServiceLinks: false\n${NGINX}`),
  'shareProcessNamespace and hostname/subdomain/FQDN': doc('share', `  shareProcessNamespace: true\n  hostname: busybox-1\n  subdomain: busybox-subdomain\n  setHostnameAsFQDN: true\n${NGINX}`),
  'terminationMessagePolicy, activeDeadlineSeconds, overhead': doc('termination-demo', `  activeDeadlineSeconds: 600\n  overhead: {cpu: 250m, memory: 120Mi}\n  containers:\n    - name: termination-demo-container\n      image: debian\n      command: ["/bin/sh"]\n      args: ["-c", "sleep 10 && echo Sleep expired > /dev/termination-log"]\n      terminationMessagePath: /dev/termination-log\n      terminationMessagePolicy: FallbackToLogsOnError\n`),
  'ephemeral-storage and hugepages resources': doc('frontend', `  containers:\n    - name: app\n      image: images.my-company.example/app:v4\n      resources:\n        requests: {ephemeral-storage: "2Gi", hugepages-2Mi: 100Mi, memory: 100Mi}\n        limits: {ephemeral-storage: "4Gi", hugepages-2Mi: 100Mi, memory: 100Mi}\n      volumeMounts:\n        - name: ephemeral\n          mountPath: "/tmp"\n  volumes:\n    - name: ephemeral\n      emptyDir:\n        sizeLimit: 500Mi\n`),
  'stdin and tty (attach to a container)': doc('interactive', `  containers:\n    - name: shell\n      image: busybox:1.28\n      stdin: true\n      stdinOnce: true\n      tty: true\n`),
};

describe('seccomp and AppArmor annotations that agree with the fields', () => {
  it('accepts them, and the container field over the pod field for AppArmor', () => {
    expect(errorsOf((p) => {
      p.metadata.annotations = {
        'seccomp.security.alpha.kubernetes.io/pod': 'docker/default',
        'container.seccomp.security.alpha.kubernetes.io/web': 'localhost/profiles/a.json',
        'container.apparmor.security.beta.kubernetes.io/web': 'localhost/k8s-deny-write',
      };
      p.spec.securityContext = { seccompProfile: { type: 'RuntimeDefault' }, appArmorProfile: { type: 'RuntimeDefault' } };
      c0(p).securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: 'profiles/a.json' }, appArmorProfile: { type: 'Localhost', localhostProfile: 'k8s-deny-write' } };
    })).toEqual([]);
  });
});

describe('validation parity: what the API server accepts', () => {
  it('has at least 40 documented examples', () => {
    expect(Object.keys(VALID).length).toBeGreaterThanOrEqual(40);
  });

  it.each(Object.entries(VALID))('accepts: %s', (_, text) => {
    const parsed = parseManifests(text, 'example.yaml');
    expect(parsed.errors.map((e) => e.message)).toEqual([]);
    expect(parsed.objects).toHaveLength(1);
    expect(validatePod(parsed.objects[0]!.object).map(formatFieldError)).toEqual([]);
  });
});
