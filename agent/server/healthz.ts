/**
 * /healthz with kubelet's named checks (ping, log, syncloop) and bosun's `runtime`: it fails
 * while the container engine is away (kubelet says so only on the node's Ready condition;
 * its healthz fails once its sync loop has been skipped for 5 minutes).
 */
export function healthz(syncloop: () => boolean, runtimeDown: (() => string | undefined) | undefined, check: string | undefined, verbose: boolean): { status: number; body: string } {
  const checks: Record<string, () => string | undefined> = {
    ping: () => undefined,
    log: () => undefined,
    syncloop: () => (syncloop() ? undefined : 'the pod lifecycle loop has not relisted for 3m0s'),
    runtime: () => runtimeDown?.(),
  };
  if (check) {
    const c = checks[check];
    if (!c) return { status: 404, body: `healthz check "${check}" not found\n` };
    const why = c();
    return why === undefined ? { status: 200, body: 'ok' } : { status: 500, body: `${check} failed: ${why}` };
  }
  const failed = Object.entries(checks).map(([name, c]) => [name, c()] as const);
  const bad = failed.filter(([, why]) => why !== undefined);
  if (verbose) {
    const lines = failed.map(([name, why]) => (why === undefined ? `[+]${name} ok` : `[-]${name} failed: ${why}`));
    return { status: bad.length ? 500 : 200, body: `${lines.join('\n')}\nhealthz check ${bad.length ? 'failed' : 'passed'}\n` };
  }
  return bad.length ? { status: 500, body: bad.map(([name, why]) => `${name} failed: ${why}`).join('\n') } : { status: 200, body: 'ok' };
}
