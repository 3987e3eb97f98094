import type Docker from 'dockerode';
import { isNotFound, statusCode, wrapEngineError } from './errors.js';

export const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';

export interface PodNetworkOptions {
  networkName: string;
  podCIDR: string;
  bridgeName: string;
}

interface NetworkView {
  Driver?: string;
  IPAM?: { Config?: Array<{ Subnet?: string }> };
  Options?: Record<string, string>;
}

function subnets(n: NetworkView): string[] {
  return (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s !== '');
}

function checkExisting(n: NetworkView, opts: PodNetworkOptions): void {
  const have = subnets(n);
  if (!have.includes(opts.podCIDR)) {
    // Never repair by deleting: the network may hold running pods whose IPs would vanish.
    throw new Error(
      `Docker network "${opts.networkName}" exists with subnet ${have.join(', ') || '(none)'} ` +
        `but the pod CIDR is ${opts.podCIDR}: remove it by hand (docker network rm ${opts.networkName}, ` +
        `after removing its containers) or configure a matching podCIDR`,
    );
  }
  if (n.Driver !== undefined && n.Driver !== 'bridge') {
    throw new Error(
      `Docker network "${opts.networkName}" exists with driver ${n.Driver}, expected bridge`,
    );
  }
  const bridge = n.Options?.[BRIDGE_NAME_OPTION];
  if (bridge !== undefined && bridge !== opts.bridgeName) {
    throw new Error(
      `Docker network "${opts.networkName}" uses bridge ${bridge}, expected ${opts.bridgeName}`,
    );
  }
}

/** Makes sure the pod network exists with the expected subnet; never deletes one. */
export async function ensurePodNetwork(docker: Docker, opts: PodNetworkOptions): Promise<void> {
  for (let i = 0; i < 2; i++) {
    let existing: NetworkView | undefined;
    try {
      existing = (await docker.getNetwork(opts.networkName).inspect()) as NetworkView;
    } catch (err) {
      if (!isNotFound(err)) throw wrapEngineError(undefined, `inspecting Docker network ${opts.networkName}`, err);
    }
    if (existing) {
      checkExisting(existing, opts);
      return;
    }
    try {
      await docker.createNetwork({
        Name: opts.networkName,
        Driver: 'bridge',
        CheckDuplicate: true,
        IPAM: { Driver: 'default', Config: [{ Subnet: opts.podCIDR }] },
        Options: { [BRIDGE_NAME_OPTION]: opts.bridgeName },
        Labels: { 'io.bosun.network': 'pods' },
      });
      return;
    } catch (err) {
      // 409: another agent process created it between our inspect and create: re-check.
      if (statusCode(err) === 409 && i === 0) continue;
      throw wrapEngineError(
        undefined,
        `creating Docker network ${opts.networkName} (subnet ${opts.podCIDR}, bridge ${opts.bridgeName})`,
        err,
      );
    }
  }
}
