import type { KnownReason } from './results.js';

// Failures and skips of upstream's NodeConformance specs whose cause is this machine or the
// offline setup, not bosun: each names the concrete reason. RESULTS.md shows the reason
// next to what the suite said. A spec that fails because bosun lacks something is never
// listed here: that is fixed in bosun.
const NO_PRIVILEGED = 'this VM cannot start privileged containers: runc fails with "unable to apply caps: operation not permitted" (the VM\'s own capability bounding set lacks some capabilities, e.g. CAP_SYS_RESOURCE), on Docker as on containerd';

export const KNOWN_REASONS: KnownReason[] = [
  // host_path.go: r/w and subPath run their two containers privileged.
  { match: /HostPath should support (r\/w|subPath)/, reason: NO_PRIVILEGED },
  { match: /PrivilegedPod \[NodeConformance\] should enable privileged commands/, reason: NO_PRIVILEGED },
];
