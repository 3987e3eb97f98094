// What `bosun doctor` knows about the host: raw observations, as little interpreted as
// possible, so that every judgement lives in the pure checks (checks.ts) and is unit-tested
// over fixed facts. gather.ts fills this in on a real host.

export interface EngineFacts {
  endpoint: string;
  /** Set when the engine did not answer. */
  error?: string;
  version?: string;
  apiVersion?: string;
  cgroupDriver?: string;
  cgroupVersion?: string;
  /** The driver bosun is configured with (cgroupDriver / --cgroup-driver): it must be the engine's. */
  configuredCgroupDriver?: string;
}

export interface Listener {
  address: string;
  pid?: number;
  /** argv of the owning process, when it could be found. */
  argv?: string[];
}

export interface DirFacts {
  path: string;
  purpose: string;
  exists: boolean;
  /** A file could be created and removed in it (or, when missing, in its nearest parent). */
  writable: boolean;
  error?: string;
}

export interface Facts {
  engine: EngineFacts;
  /** undefined when the engine could not be asked. */
  pauseImage: { ref: string; present?: boolean };
  /** systemd is PID 1 (/run/systemd/system exists). */
  systemd: boolean;
  cgroup: {
    /** Filesystem type of /sys/fs/cgroup: cgroup2fs (v2) or tmpfs (v1 or hybrid). */
    fsType: string;
    /** v1 controllers enabled and mounted (/proc/cgroups). */
    v1: string[];
    /** Controllers of the v2 root (cgroup.controllers), where a v2 hierarchy is mounted. */
    v2?: string[];
    /** Where the v2 hierarchy is mounted in a hybrid setup. */
    unifiedMount?: string;
  };
  iptables: {
    /** `iptables --version` output, absent when the command is missing. */
    version?: string;
    error?: string;
    /** Each match/target kube-proxy needs -> undefined when a rule using it loaded, else the error. */
    probes: Record<string, string | undefined>;
  };
  /** The proxy as configured, and what picks its iptables backend (absent: not gathered). */
  proxy?: {
    mode: string;
    /** --iptables-backend: auto, legacy or nft. */
    iptablesBackend: string;
    /** iptables-nft-save (mangle, all) and iptables-legacy-save output. */
    evidence: { nftMangle: string; nftAll: string; legacyAll: string };
    /** `nft --version`, absent when nft is missing. */
    nft?: string;
  };
  sysctl: { ipForward?: string; bridgeNfCallIptables?: string };
  /** Active swap devices (/proc/swaps). */
  swaps: string[];
  ipvs: {
    kernelRelease: string;
    /** /proc/net/ip_vs exists: IPVS is in the running kernel. */
    procNetIpVs: boolean;
    /** /proc/modules exists: the kernel loads modules. */
    loadableModules: boolean;
    /** ip_vs* module files found under /lib/modules/<release>. */
    moduleFiles: string[];
    ipvsadm?: string;
  };
  conntrack: { tool?: string; kernel: boolean };
  ports: { port: number; purpose: string; listeners: Listener[] }[];
  dirs: DirFacts[];
  clock: { now: number; ntpSynchronized?: boolean; ntpError?: string };
}
