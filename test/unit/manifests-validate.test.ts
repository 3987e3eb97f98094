import { describe, expect, it } from 'vitest';
import { formatFieldError, parseManifests, validateObject, validatePod, type KubeObject } from '../../manifests/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Mut = (p: any) => void;
const BASE = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: {
    volumes: [{ name: 'data', emptyDir: {} }],
    containers: [{
      name: 'web',
      image: 'nginx:1.27',
      ports: [{ name: 'http', containerPort: 80 }],
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    }],
  },
};
const pod = (mutate: Mut): KubeObject => {
  const p = structuredClone(BASE) as any;
  mutate(p);
  return p;
};
const errorsOf = (mutate: Mut) => validatePod(pod(mutate)).map(formatFieldError);
const c0 = (p: any) => p.spec.containers[0];

const DNS_LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

// Assembled from the Kubernetes docs' task pages (probes, volumes, security context,
// affinity, taints and tolerations, resources, downward API env).
const DOCS_POD = `
apiVersion: v1
kind: Pod
metadata:
  name: kuard
  namespace: demo
  labels:
    app.kubernetes.io/name: kuard
    tier: frontend
  annotations:
    prometheus.io/scrape: "true"
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile:
      type: RuntimeDefault
    sysctls:
    - name: net.ipv4.ip_unprivileged_port_start
      value: "0"
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values: [antarctica-east1, antarctica-west1]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions:
            - {key: security, operator: In, values: [S2]}
          topologyKey: topology.kubernetes.io/zone
  tolerations:
  - key: "example-key"
    operator: "Exists"
    effect: "NoSchedule"
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 6000
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels:
        app: kuard
  nodeSelector:
    disktype: ssd
  hostAliases:
  - ip: "127.0.0.1"
    hostnames: ["foo.local", "bar.local"]
  dnsConfig:
    options:
    - name: ndots
      value: "2"
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', "until nslookup myservice; do echo waiting; sleep 2; done"]
  - name: logshipper
    image: alpine:latest
    restartPolicy: Always
    command: ['sh', '-c', 'tail -F /opt/logs.txt']
    volumeMounts:
    - name: data
      mountPath: /opt
    readinessProbe:
      exec:
        command: [cat, /opt/logs.txt]
  containers:
  - name: kuard
    image: gcr.io/kuar-demo/kuard-amd64:blue
    imagePullPolicy: IfNotPresent
    args: ["--address", "0.0.0.0:8080"]
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
    env:
    - name: MY_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: MY_POD_IP
      valueFrom:
        fieldRef:
          fieldPath: status.podIP
    - name: MY_CPU_LIMIT
      valueFrom:
        resourceFieldRef:
          containerName: kuard
          resource: limits.cpu
    - name: SPECIAL_LEVEL_KEY
      valueFrom:
        configMapKeyRef:
          name: special-config
          key: special.how
    - name: SECRET_USERNAME
      valueFrom:
        secretKeyRef:
          name: mysecret
          key: username
          optional: false
    envFrom:
    - configMapRef:
        name: special-config
    resources:
      requests:
        memory: "64Mi"
        cpu: "250m"
      limits:
        memory: "128Mi"
        cpu: "500m"
    livenessProbe:
      httpGet:
        path: /healthy
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 5
      timeoutSeconds: 1
      periodSeconds: 10
      failureThreshold: 3
    readinessProbe:
      tcpSocket:
        port: http
      initialDelaySeconds: 15
      periodSeconds: 10
    startupProbe:
      grpc:
        port: 2379
      failureThreshold: 30
      periodSeconds: 10
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "echo Hello > /usr/share/message"]
      preStop:
        sleep:
          seconds: 5
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      runAsNonRoot: true
      capabilities:
        add: ["NET_ADMIN", "SYS_TIME"]
        drop: ["ALL"]
    volumeMounts:
    - name: data
      mountPath: /data
    - name: config
      mountPath: /etc/config
      readOnly: true
    - name: secret-volume
      mountPath: /etc/secret-volume
    - name: all-in-one
      mountPath: /projected-volume
    - name: podinfo
      mountPath: /etc/podinfo
    - name: test-volume
      mountPath: /test-pd
      subPath: html
  volumes:
  - name: data
    emptyDir:
      sizeLimit: 500Mi
  - name: cache
    emptyDir:
      medium: Memory
  - name: config
    configMap:
      name: log-config
      items:
      - key: log_level
        path: log_level.conf
  - name: secret-volume
    secret:
      secretName: test-secret
      defaultMode: 0400
  - name: all-in-one
    projected:
      sources:
      - secret:
          name: mysecret
          items:
          - key: username
            path: my-group/my-username
      - downwardAPI:
          items:
          - path: "labels"
            fieldRef:
              fieldPath: metadata.labels
          - path: "cpu_limit"
            resourceFieldRef:
              containerName: kuard
              resource: limits.cpu
      - configMap:
          name: myconfigmap
          items:
          - key: config
            path: my-group/my-config
      - serviceAccountToken:
          audience: api
          expirationSeconds: 3600
          path: token
  - name: podinfo
    downwardAPI:
      items:
      - path: "annotations"
        fieldRef:
          fieldPath: metadata.annotations
  - name: test-volume
    hostPath:
      path: /data
      type: Directory
  - name: pvc
    persistentVolumeClaim:
      claimName: myclaim
`;

describe('validatePod', () => {
  it('accepts a full pod copied from the Kubernetes docs', () => {
    const r = parseManifests(DOCS_POD, 'docs.yaml');
    expect(r.errors).toEqual([]);
    expect(validatePod(r.objects[0]!.object).map(formatFieldError)).toEqual([]);
  });

  it('accepts the minimal pod', () => {
    expect(errorsOf(() => {})).toEqual([]);
  });

  it('reports unknown fields anywhere', () => {
    expect(errorsOf((p) => { p.spec.nodeSelceter = {}; })).toEqual(['unknown field "spec.nodeSelceter"']);
    expect(errorsOf((p) => { c0(p).imagePullPolice = 'Always'; })).toEqual(['unknown field "spec.containers[0].imagePullPolice"']);
    expect(errorsOf((p) => { c0(p).livenessProbe = { httpGet: { port: 80, pth: '/' } }; }))
      .toEqual(['unknown field "spec.containers[0].livenessProbe.httpGet.pth"']);
    expect(errorsOf((p) => { p.spec.volumes[0].emptyDir = { size: '1Gi' }; })).toEqual(['unknown field "spec.volumes[0].emptyDir.size"']);
    expect(errorsOf((p) => { p.metadata.label = {}; })).toEqual(['unknown field "metadata.label"']);
  });

  it('checks JSON types', () => {
    expect(errorsOf((p) => { c0(p).ports[0].containerPort = 'abc'; }))
      .toEqual(['spec.containers[0].ports[0].containerPort: Invalid value: "abc": must be an integer']);
    expect(errorsOf((p) => { p.spec.hostNetwork = 'yes'; })).toEqual(['spec.hostNetwork: Invalid value: "yes": must be a boolean']);
    expect(errorsOf((p) => { c0(p).command = 'sleep 1'; })).toEqual(['spec.containers[0].command: Invalid value: "sleep 1": must be an array']);
    expect(errorsOf((p) => { p.metadata.labels.version = 1; })).toEqual(['metadata.labels[version]: Invalid value: 1: must be a string']);
    expect(errorsOf((p) => { p.spec.terminationGracePeriodSeconds = 1.5; }))
      .toEqual(['spec.terminationGracePeriodSeconds: Invalid value: 1.5: must be an integer']);
  });

  it('treats null fields as absent, as the API server does', () => {
    expect(errorsOf((p) => { p.metadata.creationTimestamp = null; c0(p).resources = null; })).toEqual([]);
  });

  describe('metadata', () => {
    it('requires a DNS-1123 subdomain name', () => {
      expect(errorsOf((p) => { delete p.metadata.name; })).toEqual(['metadata.name: Required value']);
      expect(errorsOf((p) => { p.metadata.name = 'Web_1'; })).toEqual([`metadata.name: Invalid value: "Web_1": ${DNS_SUBDOMAIN_MSG}`]);
      expect(errorsOf((p) => { p.metadata.name = 'a'.repeat(254); }))
        .toEqual([`metadata.name: Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters`]);
      expect(errorsOf((p) => { p.metadata.name = 'web.example.com'; })).toEqual([]);
    });

    it('requires a DNS-1123 label namespace', () => {
      expect(errorsOf((p) => { p.metadata.namespace = 'kube.system'; })).toEqual(['metadata.namespace: Invalid value: "kube.system": must not contain dots']);
      expect(errorsOf((p) => { p.metadata.namespace = 'Prod'; })).toEqual([`metadata.namespace: Invalid value: "Prod": ${DNS_LABEL_MSG}`]);
    });

    it('checks label keys and values and annotation keys', () => {
      expect(errorsOf((p) => { p.metadata.labels = { 'bad key': 'x' }; })).toEqual([
        "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      ]);
      expect(errorsOf((p) => { p.metadata.labels = { 'Example.com/app': 'x' }; })).toEqual([
        `metadata.labels: Invalid value: "Example.com/app": prefix part ${DNS_SUBDOMAIN_MSG}`,
      ]);
      expect(errorsOf((p) => { p.metadata.labels = { app: 'v'.repeat(64) }; }))
        .toEqual([`metadata.labels: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters`]);
      expect(errorsOf((p) => { p.metadata.labels = { app: '-x' }; })).toEqual([
        "metadata.labels: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
      ]);
      expect(errorsOf((p) => { p.metadata.annotations = { 'Example.COM/Anything': 'any value: at all', 'a/b/c': '' }; })).toEqual([
        "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      ]);
      expect(errorsOf((p) => { p.metadata.annotations = { big: 'x'.repeat(256 * 1024) }; }))
        .toEqual(['metadata.annotations: Too long: may not be more than 262144 bytes']);
    });
  });

  describe('containers', () => {
    it('requires at least one container', () => {
      expect(errorsOf((p) => { p.spec.containers = []; })).toEqual(['spec.containers: Required value']);
      expect(errorsOf((p) => { delete p.spec; })).toEqual(['spec.containers: Required value']);
    });

    it('requires DNS-1123 label names, unique across init and app containers', () => {
      expect(errorsOf((p) => { c0(p).name = ''; })).toEqual(['spec.containers[0].name: Required value']);
      expect(errorsOf((p) => { c0(p).name = 'Web'; })).toEqual([`spec.containers[0].name: Invalid value: "Web": ${DNS_LABEL_MSG}`]);
      expect(errorsOf((p) => { p.spec.containers.push({ name: 'web', image: 'x' }); })).toEqual(['spec.containers[1].name: Duplicate value: "web"']);
      expect(errorsOf((p) => { p.spec.initContainers = [{ name: 'web', image: 'x' }]; })).toEqual(['spec.initContainers[0].name: Duplicate value: "web"']);
    });

    it('requires an image', () => {
      expect(errorsOf((p) => { delete c0(p).image; })).toEqual(['spec.containers[0].image: Required value']);
      expect(errorsOf((p) => { p.spec.initContainers = [{ name: 'init' }]; })).toEqual(['spec.initContainers[0].image: Required value']);
      expect(errorsOf((p) => { c0(p).image = 'nginx '; }))
        .toEqual(['spec.containers[0].image: Invalid value: "nginx ": must not have leading or trailing whitespace']);
    });

    it('checks enums: imagePullPolicy, terminationMessagePolicy', () => {
      expect(errorsOf((p) => { c0(p).imagePullPolicy = 'always'; }))
        .toEqual(['spec.containers[0].imagePullPolicy: Unsupported value: "always": supported values: "Always", "IfNotPresent", "Never"']);
      expect(errorsOf((p) => { c0(p).terminationMessagePolicy = 'Logs'; }))
        .toEqual(['spec.containers[0].terminationMessagePolicy: Unsupported value: "Logs": supported values: "File", "FallbackToLogsOnError"']);
    });

    it('allows restartPolicy only as Always on init containers', () => {
      expect(errorsOf((p) => { p.spec.initContainers = [{ name: 'side', image: 'x', restartPolicy: 'Always' }]; })).toEqual([]);
      expect(errorsOf((p) => { p.spec.initContainers = [{ name: 'side', image: 'x', restartPolicy: 'OnFailure' }]; }))
        .toEqual(['spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"']);
      expect(errorsOf((p) => { c0(p).restartPolicy = 'Always'; }))
        .toEqual(['spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers']);
    });

    it('forbids probes and hooks on plain init containers', () => {
      expect(errorsOf((p) => { p.spec.initContainers = [{ name: 'i', image: 'x', livenessProbe: { exec: { command: ['true'] } } }]; }))
        .toEqual(['spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always']);
    });
  });

  describe('ports', () => {
    it('checks port numbers', () => {
      expect(errorsOf((p) => { c0(p).ports[0].containerPort = 70000; }))
        .toEqual(['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive']);
      expect(errorsOf((p) => { c0(p).ports[0].containerPort = 0; })).toEqual(['spec.containers[0].ports[0].containerPort: Required value']);
      expect(errorsOf((p) => { delete c0(p).ports[0].containerPort; })).toEqual(['spec.containers[0].ports[0].containerPort: Required value']);
      expect(errorsOf((p) => { c0(p).ports[0].hostPort = -1; }))
        .toEqual(['spec.containers[0].ports[0].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive']);
    });

    it('checks protocols', () => {
      expect(errorsOf((p) => { c0(p).ports[0].protocol = 'tcp'; }))
        .toEqual(['spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"']);
    });

    it('checks port names (IANA_SVC_NAME) and their uniqueness', () => {
      expect(errorsOf((p) => { c0(p).ports[0].name = 'http-metrics-port'; }))
        .toEqual(['spec.containers[0].ports[0].name: Invalid value: "http-metrics-port": must be no more than 15 characters']);
      expect(errorsOf((p) => { c0(p).ports[0].name = 'HTTP'; })).toEqual([
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
      ]);
      expect(errorsOf((p) => { c0(p).ports[0].name = '8080'; }))
        .toEqual(['spec.containers[0].ports[0].name: Invalid value: "8080": must contain at least one letter (a-z)']);
      expect(errorsOf((p) => { c0(p).ports[0].name = 'a--b'; }))
        .toEqual(['spec.containers[0].ports[0].name: Invalid value: "a--b": must not contain consecutive hyphens']);
      expect(errorsOf((p) => { c0(p).ports[0].name = '-ab'; }))
        .toEqual(['spec.containers[0].ports[0].name: Invalid value: "-ab": must not begin or end with a hyphen']);
      expect(errorsOf((p) => { c0(p).ports.push({ name: 'http', containerPort: 81 }); }))
        .toEqual(['spec.containers[0].ports[1].name: Duplicate value: "http"']);
    });

    it('requires hostPort to match containerPort with hostNetwork', () => {
      expect(errorsOf((p) => { p.spec.hostNetwork = true; c0(p).ports[0].hostPort = 8080; }))
        .toEqual(['spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true']);
    });
  });

  describe('pod-level fields', () => {
    it('checks restartPolicy and dnsPolicy', () => {
      expect(errorsOf((p) => { p.spec.restartPolicy = 'Nerver'; }))
        .toEqual(['spec.restartPolicy: Unsupported value: "Nerver": supported values: "Always", "OnFailure", "Never"']);
      expect(errorsOf((p) => { p.spec.dnsPolicy = 'Cluster'; }))
        .toEqual(['spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"']);
      expect(errorsOf((p) => { p.spec.dnsPolicy = 'None'; }))
        .toEqual(['spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None']);
      expect(errorsOf((p) => { p.spec.dnsPolicy = 'None'; p.spec.dnsConfig = { nameservers: ['1.1.1.1'] }; })).toEqual([]);
    });

    it('checks grace periods and deadlines', () => {
      // Accepted, and stored as 1 (manifests-defaults.test.ts), as the API server does.
      expect(errorsOf((p) => { p.spec.terminationGracePeriodSeconds = -1; })).toEqual([]);
      expect(errorsOf((p) => { p.spec.terminationGracePeriodSeconds = 0; })).toEqual([]);
      expect(errorsOf((p) => { p.spec.activeDeadlineSeconds = 0; }))
        .toEqual(['spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive']);
    });

    it('checks tolerations', () => {
      expect(errorsOf((p) => { p.spec.tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }]; }))
        .toEqual(['spec.tolerations[0].operator: Invalid value: "v": value must be empty when `operator` is \'Exists\'']);
      expect(errorsOf((p) => { p.spec.tolerations = [{ operator: 'Equal', value: 'v' }]; }))
        .toEqual(['spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"']);
      expect(errorsOf((p) => { p.spec.tolerations = [{ key: 'k', effect: 'NoSchedule', tolerationSeconds: 5 }]; }))
        .toEqual(['spec.tolerations[0].effect: Invalid value: "NoSchedule": effect must be \'NoExecute\' when `tolerationSeconds` is set']);
    });
  });

  describe('probes and hooks', () => {
    const probe = (extra: object) => (p: any) => { c0(p).livenessProbe = { httpGet: { path: '/', port: 80 }, ...extra }; };

    it('requires exactly one handler', () => {
      expect(errorsOf((p) => { c0(p).livenessProbe = { periodSeconds: 5 }; }))
        .toEqual(['spec.containers[0].livenessProbe: Required value: must specify a handler type']);
      expect(errorsOf(probe({ tcpSocket: { port: 80 } })))
        .toEqual(['spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type']);
    });

    it('requires successThreshold 1 for liveness and startup probes', () => {
      expect(errorsOf(probe({ successThreshold: 2 })))
        .toEqual(['spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1']);
      expect(errorsOf((p) => { c0(p).startupProbe = { exec: { command: ['true'] }, successThreshold: 3 }; }))
        .toEqual(['spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1']);
      expect(errorsOf((p) => { c0(p).readinessProbe = { exec: { command: ['true'] }, successThreshold: 3 }; })).toEqual([]);
    });

    it('rejects negative timings', () => {
      expect(errorsOf(probe({ periodSeconds: -1, initialDelaySeconds: -5 }))).toEqual([
        'spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0',
        'spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -5: must be greater than or equal to 0',
      ]);
      expect(errorsOf(probe({ terminationGracePeriodSeconds: 0 })))
        .toEqual(['spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0']);
    });

    it('checks handler details', () => {
      expect(errorsOf((p) => { c0(p).livenessProbe = { httpGet: { port: 'metrics_port', scheme: 'ftp' } }; })).toEqual([
        'spec.containers[0].livenessProbe.httpGet.port: Invalid value: "metrics_port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "ftp": supported values: "HTTP", "HTTPS"',
      ]);
      expect(errorsOf((p) => { c0(p).livenessProbe = { exec: {} }; })).toEqual(['spec.containers[0].livenessProbe.exec.command: Required value']);
      expect(errorsOf((p) => { c0(p).livenessProbe = { grpc: { port: 0 } }; }))
        .toEqual(['spec.containers[0].livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive']);
    });

    it('requires exactly one lifecycle handler', () => {
      expect(errorsOf((p) => { c0(p).lifecycle = { preStop: {} }; }))
        .toEqual(['spec.containers[0].lifecycle.preStop: Required value: must specify a handler type']);
      expect(errorsOf((p) => { c0(p).lifecycle = { postStart: { exec: { command: ['a'] }, sleep: { seconds: 1 } } }; }))
        .toEqual(['spec.containers[0].lifecycle.postStart.sleep: Forbidden: may not specify more than 1 handler type']);
      expect(errorsOf((p) => { c0(p).lifecycle = { preStop: { grpc: { port: 1 } } }; }))
        .toEqual(['unknown field "spec.containers[0].lifecycle.preStop.grpc"', 'spec.containers[0].lifecycle.preStop: Required value: must specify a handler type']);
      expect(errorsOf((p) => { c0(p).lifecycle = { preStop: { sleep: { seconds: 40 } } }; }))
        .toEqual(['spec.containers[0].lifecycle.preStop.sleep: Invalid value: 40: must be non-negative and less than or equal to terminationGracePeriodSeconds (30)']);
    });
  });

  describe('volumes and mounts', () => {
    it('requires unique DNS-1123 label volume names', () => {
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'data', emptyDir: {} }); })).toEqual(['spec.volumes[1].name: Duplicate value: "data"']);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'My_Vol', emptyDir: {} }); }))
        .toEqual([`spec.volumes[1].name: Invalid value: "My_Vol": ${DNS_LABEL_MSG}`]);
    });

    it('allows at most one source (none means emptyDir)', () => {
      // Upstream checks sources in a fixed order (hostPath before emptyDir) and flags the later one.
      expect(errorsOf((p) => { p.spec.volumes[0].hostPath = { path: '/x' }; }))
        .toEqual(['spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type']);
      expect(errorsOf((p) => { delete p.spec.volumes[0].emptyDir; })).toEqual([]);
    });

    it('checks sources', () => {
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'h', hostPath: { path: '/x', type: 'Dir' } }); })).toEqual([
        'spec.volumes[1].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"',
      ]);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'c', configMap: { items: [{ key: 'k', path: '../x' }], defaultMode: 0o1000 } }); })).toEqual([
        'spec.volumes[1].configMap.items[0].path: Invalid value: "../x": must not contain \'..\'',
        'spec.volumes[1].configMap.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive',
        'spec.volumes[1].configMap.name: Required value',
      ]);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 's', secret: {} }); })).toEqual(['spec.volumes[1].secret.secretName: Required value']);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'p', persistentVolumeClaim: {} }); }))
        .toEqual(['spec.volumes[1].persistentVolumeClaim.claimName: Required value']);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'd', downwardAPI: { items: [{ path: 'x', fieldRef: { fieldPath: 'spec.nodeName' } }] } }); })).toEqual([
        'spec.volumes[1].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"',
      ]);
      expect(errorsOf((p) => { p.spec.volumes.push({ name: 'n', nfs: { server: 'nfs', path: '/' } }, { name: 'g', gcePersistentDisk: { pdName: 'x' } }); })).toEqual([]);
    });

    it('checks mounts: volume exists, absolute unique mountPath, relative subPath', () => {
      expect(errorsOf((p) => { c0(p).volumeMounts[0].name = 'nope'; })).toEqual(['spec.containers[0].volumeMounts[0].name: Not found: "nope"']);
      expect(errorsOf((p) => { c0(p).volumeMounts[0].mountPath = 'data'; }))
        .toEqual(['spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an absolute path']);
      expect(errorsOf((p) => { c0(p).volumeMounts.push({ name: 'data', mountPath: '/data' }); }))
        .toEqual(['spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique']);
      expect(errorsOf((p) => { c0(p).volumeMounts[0].subPath = '/etc'; }))
        .toEqual(['spec.containers[0].volumeMounts[0].subPath: Invalid value: "/etc": must be a relative path']);
      expect(errorsOf((p) => { c0(p).volumeMounts[0].subPath = 'a/../../etc'; }))
        .toEqual(['spec.containers[0].volumeMounts[0].subPath: Invalid value: "a/../../etc": must not contain \'..\'']);
      expect(errorsOf((p) => { c0(p).volumeMounts[0].subPath = 'a..b/c'; })).toEqual([]);
      expect(errorsOf((p) => { c0(p).volumeMounts[0].mountPropagation = 'Bidirectional'; }))
        .toEqual(['spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers']);
    });
  });

  describe('env', () => {
    it('checks names', () => {
      expect(errorsOf((p) => { c0(p).env = [{ name: '' }]; })).toEqual(['spec.containers[0].env[0].name: Required value']);
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A=B' }]; }))
        .toEqual(['spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than \'=\'']);
      expect(errorsOf((p) => { c0(p).env = [{ name: '1-my.var', value: 'x' }]; })).toEqual([]);
    });

    it('requires exactly one valueFrom source', () => {
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', valueFrom: {} }]; }))
        .toEqual(['spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`']);
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' }, secretKeyRef: { name: 's', key: 'k' } } }]; }))
        .toEqual(['spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a time']);
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]; }))
        .toEqual(['spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty']);
    });

    it('checks sources', () => {
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } }]; })).toEqual([
        'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"',
      ]);
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }]; })).toEqual([]);
      expect(errorsOf((p) => { c0(p).env = [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c' } } }]; }))
        .toEqual(['spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Required value']);
    });
  });

  describe('resources', () => {
    it('checks quantities', () => {
      expect(errorsOf((p) => { c0(p).resources = { limits: { cpu: '12x' } }; })).toEqual([
        "spec.containers[0].resources.limits[cpu]: Invalid value: \"12x\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
      ]);
      expect(errorsOf((p) => { c0(p).resources = { requests: { memory: '-1Mi' } }; }))
        .toEqual(['spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0']);
      expect(errorsOf((p) => { c0(p).resources = { limits: { cpu: 1, memory: '1e9', 'nvidia.com/gpu': 1, 'hugepages-2Mi': '1Gi' } }; })).toEqual([]);
    });

    it('checks resource names', () => {
      expect(errorsOf((p) => { c0(p).resources = { limits: { cpus: '1' } }; }))
        .toEqual(['spec.containers[0].resources.limits[cpus]: Invalid value: "cpus": must be a standard resource for containers']);
    });

    it('requires requests <= limits', () => {
      expect(errorsOf((p) => { c0(p).resources = { requests: { cpu: '2' }, limits: { cpu: '1500m' } }; }))
        .toEqual(['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1500m']);
      expect(errorsOf((p) => { c0(p).resources = { requests: { memory: '1Gi' }, limits: { memory: '1G' } }; }))
        .toEqual(['spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to memory limit of 1G']);
      expect(errorsOf((p) => { c0(p).resources = { requests: { cpu: '1000m' }, limits: { cpu: 1 } }; })).toEqual([]);
    });
  });
});

describe('validateObject', () => {
  const meta = { name: 'x' };
  it('dispatches by kind', () => {
    expect(validateObject(pod(() => {}))).toEqual([]);
    expect(validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { 'a.conf': 'x' } })).toEqual([]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Secret', metadata: meta, type: 'Opaque', stringData: { p: 'x' } })).toEqual([]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Service', metadata: meta, spec: { ports: [{ port: 80 }] } })).toEqual([]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Endpoints', metadata: meta, subsets: [] })).toEqual([]);
    expect(validateObject({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta, addressType: 'IPv4', endpoints: [] })).toEqual([]);
  });

  it('checks basic shape of the other kinds', () => {
    const fmt = (o: KubeObject) => validateObject(o).map(formatFieldError);
    expect(fmt({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, data: { 'a b': 'x', n: 1 } })).toEqual([
      'data[n]: Invalid value: 1: must be a string',
      "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ]);
    expect(fmt({ apiVersion: 'v1', kind: 'Service', metadata: { name: '1web' }, spec: {} })).toEqual([
      "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      'spec.ports: Required value',
    ]);
    expect(fmt({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta })).toEqual(['addressType: Required value']);
    expect(fmt({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, spec: {} })).toEqual(['unknown field "spec"']);
  });

  it('checks apiVersion and rejects unsupported kinds', () => {
    const fmt = (o: KubeObject) => validateObject(o).map(formatFieldError);
    expect(fmt({ apiVersion: 'v1', kind: 'EndpointSlice', metadata: meta, addressType: 'IPv4' }))
      .toEqual(['apiVersion: Unsupported value: "v1": supported values: "discovery.k8s.io/v1"']);
    expect(fmt(pod((p) => { p.apiVersion = 'apps/v1'; }))).toEqual(['apiVersion: Unsupported value: "apps/v1": supported values: "v1"']);
    expect(fmt({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta }))
      .toEqual(['kind "Deployment" is not supported (supported: Pod, ConfigMap, Secret, Service, Endpoints, EndpointSlice)']);
  });
});
