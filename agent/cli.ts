#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type { PodList } from '../manifests/index.js';
import { Agent } from './agent.js';
import { resolveConfig } from './config.js';
import { DOCTOR_COMMAND, doctorMain } from './doctor/index.js';
import { acquireRootDirLock, controlMain, DRAIN_COMMAND, Lifecycle, UNCORDON_COMMAND } from './lifecycle.js';
import { createLogger } from './log.js';
import { LOGS_COMMAND, logsMain } from './logs/index.js';
import type { CoreEvent } from './events.js';
import { age, podTable, table } from './printers.js';
import { cleanup as proxyCleanup } from '../netproxy/index.js';
import { KUBECONFIG_COMMAND, kubeconfigMain } from './server/kubeconfig.js';
import { commandHelp, overviewHelp, parseCommand, wantsHelp, type Command } from './settings/index.js';
import { UserError } from './user-error.js';

const RUN_COMMAND: Command = {
  name: 'run',
  usage: 'run [--config FILE] [flags]',
  summary: 'Run the agent.',
  description: 'Precedence: defaults < config file < flags (kubelet\'s names). SIGHUP (systemctl reload bosun) re-reads the config file and applies the settings that say so; the others wait for a restart, which no pod notices: the next agent adopts them.',
  config: true,
  settings: 'all',
};

const GET_COMMAND: Command = {
  name: 'get',
  usage: 'get pods [NAME] [-o wide|json|yaml] [-n NAMESPACE] [--server URL]\nget events [-n NAMESPACE] [-o json|yaml] [--server URL]',
  summary: "List pods or events, as kubectl prints them, from the agent's read-only API.",
  positionals: true,
  options: [
    { name: 'output', short: 'o', type: 'string', arg: 'FORMAT', help: 'wide, json or yaml (events: json or yaml).' },
    { name: 'namespace', short: 'n', type: 'string', arg: 'NAMESPACE', help: 'Only this namespace (default: all).' },
    { name: 'all-namespaces', short: 'A', type: 'boolean', help: 'Every namespace (the default; for kubectl habits).' },
    { name: 'server', type: 'string', arg: 'URL', default: 'http://127.0.0.1:10255', help: "The agent's read-only API." },
  ],
};

const PROXY_COMMAND: Command = {
  name: 'proxy',
  usage: 'proxy cleanup [--service-cluster-ip-range CIDR] [--pod-cidr CIDR] [--pod-bridge NAME]',
  summary: 'Remove every iptables and nftables rule, chain, table, IPVS service and route of the Service proxy.',
  positionals: true,
  settings: ['serviceCIDR', 'podCIDR', 'podBridge'],
};

const VERSION_COMMAND: Command = { name: 'version', usage: 'version', summary: 'Print the version.' };

const COMMANDS: readonly Command[] = [RUN_COMMAND, GET_COMMAND, LOGS_COMMAND, KUBECONFIG_COMMAND, DOCTOR_COMMAND, DRAIN_COMMAND, UNCORDON_COMMAND, PROXY_COMMAND, VERSION_COMMAND];

/** `bosun --help`. */
export const USAGE = overviewHelp('bosun: a node agent (kubelet and kube-proxy for small fleets)', COMMANDS);

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function run(argv: string[]): Promise<number> {
  const { flags, config: configPath } = parseCommand(RUN_COMMAND, argv);
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
  const parsed = parseCommand(GET_COMMAND, argv);
  const positionals = parsed.positionals;
  const values = parsed.values as { output?: string; namespace?: string; server?: string };
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
  const { flags, positionals } = parseCommand(PROXY_COMMAND, argv);
  if (positionals[0] !== 'cleanup' || positionals.length > 1) throw new CliError(`usage: bosun ${PROXY_COMMAND.usage}`);
  const problems = await proxyCleanup({ route: { serviceCIDR: flags['service-cluster-ip-range'], podCIDR: flags['pod-cidr'], bridge: flags['pod-bridge'] } });
  for (const p of problems) process.stderr.write(`bosun proxy cleanup: ${p}\n`);
  return problems.length ? 1 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const spec = COMMANDS.find((c) => c.name === cmd);
  if (spec && wantsHelp(rest)) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  if (cmd === 'help' && rest.length) {
    const of = COMMANDS.find((c) => c.name === rest[0]);
    if (!of) {
      process.stderr.write(`error: unknown command "${rest[0]}"\n\n${USAGE}`);
      return 1;
    }
    process.stdout.write(commandHelp(of));
    return 0;
  }
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
