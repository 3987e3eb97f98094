import type { KnownReason } from './results.js';

// Failures and skips of upstream's NodeConformance specs whose cause is this machine or the
// offline setup, not bosun: each names the concrete reason. RESULTS.md shows the reason
// next to what the suite said. A spec that fails because bosun lacks something is never
// listed here: that is fixed in bosun.
const NO_PRIVILEGED = 'this VM cannot start privileged containers: runc fails with "unable to apply caps: operation not permitted" (the VM\'s own capability bounding set lacks some capabilities, e.g. CAP_SYS_RESOURCE), on Docker as on containerd';

// The specs run `sh -c env` and look for variables named data-1 / p-data-1 (envFrom keys are not
// shell identifiers). bosun hands them to the engine; the busybox stand-in's sh (Debian's
// busybox 1.35 ash, scripts/conformance/images.sh) drops such names from the environment of
// what it runs (`docker run -e data-1=x <that image> sh -c env` prints none; bash keeps them).
const ASH_DROPS_NAMES = 'the busybox stand-in (Debian\'s busybox-static 1.35) runs `sh -c env` with an ash that drops environment variables whose names are not shell identifiers (data-1); the variables reach the container (`docker run -e data-1=x` then `env` without sh shows them); Debian 13\'s busybox-static 1.37.0 drops them too (`env -i data-1=x busybox sh -c env`)';

// networking.go node-pod UDP runs `echo hostName | nc -w 1 -u IP PORT` under sh -c in agnhost.
const NC_NO_UDP = 'the agnhost stand-in\'s sh is Debian\'s busybox-static, a standalone shell that runs its own applets ahead of PATH, and its nc has no -u (e2e.log: "nc: invalid option -- \'u\'"); upstream\'s alpine busybox nc speaks UDP';

export const KNOWN_REASONS: KnownReason[] = [
  { match: /Networking Granular Checks: Pods should function for node-pod communication: udp/, reason: NC_NO_UDP },
  { match: /\[sig-node\] (ConfigMap|Secrets) should be consumable via the environment \[NodeConformance\]/, reason: ASH_DROPS_NAMES },
  // host_path.go: r/w and subPath run their two containers privileged.
  { match: /HostPath should support (r\/w|subPath)/, reason: NO_PRIVILEGED },
  { match: /PrivilegedPod \[NodeConformance\] should enable privileged commands/, reason: NO_PRIVILEGED },
];
