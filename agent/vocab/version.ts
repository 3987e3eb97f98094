// The Kubernetes release bosun answers as: nodeInfo.kubeletVersion and kubeProxyVersion
// (kubelet reports its build's gitVersion there), the local API's /version, and the
// User-Agent of its API clients. It is the release of the control plane the cluster tests
// run against (scripts/cluster/k8s/go.mod; a unit test keeps the two equal), so a node of
// that cluster sits inside the kubelet skew policy (never newer than the API server, at
// most three minors older). The "-bosun" pre-release tag sorts just below that release.
export const KUBE_VERSION = { major: '1', minor: '36', gitVersion: 'v1.36.3-bosun' } as const;

export const userAgent = (component: string, nodeName?: string): string =>
  `bosun/${KUBE_VERSION.gitVersion} (linux) ${component}${nodeName ? `/${nodeName}` : ''}`;
