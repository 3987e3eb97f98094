// What the proxy loop drives: one packet-filter backend (iptables or nftables) that can
// program a full or a partial sync of the service ports, tell whether its rules are
// still in place, and delete conntrack entries. The loop owns the timing; the dataplane
// owns what it last applied, so a partial sync can be rendered against it.

import type { ConntrackDeletion } from './conntrack.js';
import type { ServicePortInfo } from './ports.js';

export interface SyncStats {
  full: boolean;
  /** Size of the transaction sent to the kernel. */
  lines: number;
  bytes: number;
  /** Rules (or, for nftables, rules + map/set elements) that exist once applied. */
  natRules: number;
  filterRules: number;
}

export interface Dataplane {
  /** `iptables` (with its backend) or `nftables`, for logs. */
  readonly name: string;
  /**
   * Programs `ports`. full: rewrite everything and remove what is ours but no longer
   * wanted; else write only what changed since the last successful sync (a full sync when
   * there was none). Throws when the kernel refused the transaction.
   */
  sync(ports: ServicePortInfo[], full: boolean): Promise<SyncStats>;
  /** False when our rules were removed or flushed by someone else (the canary check). */
  healthy(): Promise<boolean>;
  deleteConntrack(d: ConntrackDeletion): Promise<void>;
}
