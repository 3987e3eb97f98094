#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { PodList } from '../manifests/index.js';
import { Agent } from './agent.js';
import { FLAGS, resolveConfig } from './config.js';
import { doctorMain } from './doctor/index.js';
import { acquireRootDirLock, controlMain, Lifecycle } from './lifecycle.js';
import { createLogger } from './log.js';
import { LOGS_USAGE, logsMain } from './logs/index.js';
import type { CoreEvent } from './events.js';
import { age, podTable, table } from './printers.js';
import { cleanup as proxyCleanup } from '../netproxy/index.js';
import { KUBECONFIG_USAGE, kubeconfigMain } from './server/kubeconfig.js';
import { UserError } from './user-error.js';

const USAGE = `bosun: a node agent (kubelet and kube-proxy for small fleets)

Usage:
  bosun run [flags]                 run the agent
  bosun get pods [NAME] [-o wide|json|yaml] [-n NAMESPACE] [--server URL]
  bosun get events [-n NAMESPACE] [-o json|yaml]
${LOGS_USAGE.trimEnd()}
${KUBECONFIG_USAGE.trimEnd()}
  bosun doctor [--config FILE] [flags of run]   check this host (exit 1 on any FAIL)
  bosun drain [--root-dir DIR]      terminate every pod gracefully and stay cordoned
  bosun uncordon [--root-dir DIR]   let pods run again after a drain
  bosun proxy cleanup               remove every iptables rule, chain and route of the Service proxy
  bosun version

Flags of run (kubelet's names):
  --config FILE                     KubeletConfiguration-shaped YAML; flags win over it
  --pod-manifest-path DIR           static pod manifests (default /etc/kubernetes/manifests)
  --root-dir DIR                    agent state (default /var/lib/bosun)
  --node-name NAME                  node name (default: the host name)
  --read-only-port PORT             read-only API port (default 10255, 0 disables)
  --address ADDR                    address of the kubelet port (default 127.0.0.1)
  --read-only-address ADDR          address of the read-only port (default 127.0.0.1; not --address: it is unauthenticated)
  --pod-cidr CIDR                   pod network (default 10.244.0.0/16)
  --pod-bridge NAME                 Linux bridge of the Docker pod network (default bosun0)
  --container-runtime-endpoint URL  engine socket (default unix:///var/run/docker.sock;
                                    any socket named docker.sock is a Docker engine)
  --file-check-frequency DURATION   manifest directory re-list period (default 20s)
  --sync-frequency DURATION         pod sync tick (default 1s)
  --node-ip IP                      the node's address (default: the default route's)
  --log-format json|text            log format (default json)
  --log-level LEVEL                 trace|debug|info|warn|error (default info)
  --pod-infra-container-image REF   pause image (default localhost/bosun/pause:3.10)
  --port PORT                       kubelet API, HTTPS and authenticated (default 10250 on --address, 0 disables)
  --tls-cert-file, --tls-private-key-file FILE   serving pair (default: made under <root-dir>/pki)
  --token-auth-file FILE            token,user,uid[,"groups"] lines (default: <root-dir>/pki/tokens.csv, made once)
  --client-ca-file FILE             client certificates signed by it authenticate (CN user, O groups)
  --authorization-mode AlwaysAllow  any authenticated user may do everything (the only mode without an API server)
  --kubeconfig FILE                 join the API server of this kubeconfig (cluster mode)
  --proxy-kubeconfig FILE           the Service proxy's identity for EndpointSlices (kube-proxy's; default: --kubeconfig)
  --healthz-port PORT               plain /healthz (default 10248, 0 disables)
  --healthz-bind-address ADDR       (default 127.0.0.1)
`;

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function run(argv: string[]): Promise<number> {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' } };
  for (const f of Object.keys(FLAGS)) options[f] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  const { config: configPath, ...flags } = values as Record<string, string | undefined>;
  const cfg = resolveConfig(flags, configPath);
  // Before anything touches a pod: one agent per root dir.
  const lock = await acquireRootDirLock(cfg.rootDir);
  const log = createLogger({ format: cfg.logFormat, level: cfg.logLevel });
  const agent = await Agent.create(cfg, log);
  const life = new Lifecycle(agent, log, () => resolveConfig(flags, configPath));
  await life.beforeStart();
  await agent.start();
  await life.started();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      // Stopping the agent never stops pods: the next start adopts them.
      log.info({ signal }, 'stopping; pods keep running');
      life.stopping();
      void agent.stop().finally(() => life.close().then(() => lock.release()).finally(resolve));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      output: { type: 'string', short: 'o' },
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      server: { type: 'string', default: 'http://127.0.0.1:10255' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [what, name] = positionals;
  if (what === 'events' || what === 'event' || what === 'ev') return getEvents(values.server!, values.namespace, values.output);
  if (what !== 'pods' && what !== 'pod' && what !== 'po') {
    process.stderr.write(`error: the server doesn't have a resource type "${what ?? ''}" (supported: pods, events)\n`);
    return 1;
  }
  const list = await fetchJSON<PodList>(values.server!, '/pods');
  let items = list.items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  if (values.namespace) items = items.filter((p) => p.metadata.namespace === values.namespace);
  if (name) {
    items = items.filter((p) => p.metadata.name === name);
    if (items.length === 0) {
      process.stderr.write(`Error from server (NotFound): pods "${name}" not found\n`);
      return 1;
    }
  }
  const out = values.output;
  const payload = name ? items[0] : { ...list, items };
  if (out === 'json') process.stdout.write(JSON.stringify(payload, null, 2) + '\n');
  else if (out === 'yaml') process.stdout.write(stringify(payload));
  else if (out === undefined || out === 'wide') {
    if (items.length === 0) process.stderr.write('No resources found\n');
    else process.stdout.write(podTable(items, out === 'wide', Date.now(), !values.namespace));
  } else {
    process.stderr.write(`error: unable to match a printer suitable for the output format "${out}", allowed formats are: json,wide,yaml\n`);
    return 1;
  }
  return 0;
}

async function fetchJSON<T>(server: string, path: string): Promise<T> {
  try {
    const res = await fetch(new URL(path, server));
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return (await res.json()) as T;
  } catch (err) {
    throw new CliError(`cannot reach the agent at ${server}: ${(err as Error).message} (is "bosun run" running?)`);
  }
}

async function getEvents(server: string, namespace: string | undefined, output: string | undefined): Promise<number> {
  const list = await fetchJSON<{ items: CoreEvent[] }>(server, '/events');
  const items = list.items.filter((e) => !namespace || e.involvedObject.namespace === namespace);
  if (output === 'json') process.stdout.write(JSON.stringify({ ...list, items }, null, 2) + '\n');
  else if (output === 'yaml') process.stdout.write(stringify({ ...list, items }));
  else if (items.length === 0) process.stderr.write('No resources found\n');
  else {
    const now = Date.now();
    const rows = items.map((e) => [
      ...(namespace ? [] : [e.involvedObject.namespace]),
      age(now - Date.parse(e.lastTimestamp)),
      e.type,
      e.reason,
      `pod/${e.involvedObject.name}`,
      e.count > 1 ? `${e.message} (x${e.count} over ${age(Date.parse(e.lastTimestamp) - Date.parse(e.firstTimestamp))})` : e.message,
    ]);
    process.stdout.write(table([[...(namespace ? [] : ['NAMESPACE']), 'LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'], ...rows]));
  }
  return 0;
}

class CliError extends UserError {}

/** `bosun proxy cleanup`: removes every rule, chain and route the Service proxy made. */
async function proxy(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { 'service-cluster-ip-range': { type: 'string' }, 'pod-cidr': { type: 'string' }, 'pod-bridge': { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals[0] !== 'cleanup') throw new CliError('usage: bosun proxy cleanup [--service-cluster-ip-range CIDR] [--pod-cidr CIDR] [--pod-bridge NAME]');
  const problems = await proxyCleanup({ route: { serviceCIDR: values['service-cluster-ip-range'], podCIDR: values['pod-cidr'], bridge: values['pod-bridge'] } });
  for (const p of problems) process.stderr.write(`bosun proxy cleanup: ${p}\n`);
  return problems.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'get':
      return get(rest);
    case 'logs':
      return logsMain(rest);
    case 'doctor':
      return doctorMain(rest);
    case 'kubeconfig':
      return kubeconfigMain(rest);
    case 'drain':
    case 'uncordon':
      return controlMain(cmd, rest);
    case 'proxy':
      return proxy(rest);
    case 'version':
    case '--version':
      process.stdout.write(`bosun v${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`error: unknown command "${cmd}"\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const msg = err instanceof UserError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? (err as Error).message : (err as Error).stack ?? String(err);
    process.stderr.write(`bosun: ${msg}\n`);
    process.exit(1);
  },
);
