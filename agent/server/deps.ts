// What the kubelet port needs of the agent (secure.ts, handlers.ts, streams.ts).

import type { Runtime } from '../../cri/index.js';
import type { Pod } from '../../manifests/index.js';
import type { Logger } from '../log.js';
import type { SourceFile } from '../sources/file.js';
import type { StatsCollector } from './collect.js';
import type { ObjectSources } from './resources.js';
import type { WebhookAuth } from './webhook.js';

export interface SecureServerDeps extends ObjectSources {
  nodeName: string;
  manifestDir: string;
  podLogsDir: string;
  log: Logger;
  runtime: Pick<Runtime, 'exec' | 'attach' | 'portForward' | 'execSync'>;
  /** Pods the runtime runs, from the pod cache (kubelet's /runningpods). */
  runningPods(): Pod[];
  sandboxOf(uid: string): string | undefined;
  healthy(): boolean;
  /** Why the container runtime is not ready (agent/runtime/health.ts), undefined while it is. */
  runtimeDown?(): string | undefined;
  metrics(which: 'all' | 'probes'): Promise<{ contentType: string; body: string }>;
  stats: Pick<StatsCollector, 'summary'>;
  configz(): object;
  /** The manifest directory's valid files: ConfigMaps, Secrets and Services to serve, and who wrote what. */
  sourceFiles?(): SourceFile[];
  /**
   * Standalone mode: kubectl's writes become files in the manifest directory (writes.ts).
   * Absent in cluster mode, where the API server owns the pods.
   */
  writes?: { rescan(): Promise<void> };
  /** Cluster mode: TokenReview for unknown bearer tokens, SubjectAccessReview for every request. */
  webhook?: { auth: WebhookAuth; tokens: boolean; authorize: boolean };
}
