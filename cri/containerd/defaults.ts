// containerd's defaults, apart from the runtime: reading them does not load gRPC.

export const CONTAINERD_DEFAULTS = {
  socketPath: '/run/bosun-containerd/containerd.sock',
  /** Where containerd writes the container logs (a mirror of the agent's pod log dirs). */
  logRoot: '/var/log/bosun-containerd',
  pullTimeoutMs: 60_000,
  eventPeriodMs: 1000,
} as const;

export interface ContainerdRuntimeOptions {
  socketPath?: string;
  logRoot?: string;
  pullTimeoutMs?: number;
  eventPeriodMs?: number;
}
