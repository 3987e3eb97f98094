import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { FLAGS, resolveConfig } from '../config.js';
import { parseTokenFile } from './auth.js';
import { pkiDir } from './pki.js';

// `bosun kubeconfig`: a kubeconfig for kubectl against this standalone node's kubelet
// port: the server, the CA that signed the serving certificate, a token from the token file.

export const KUBECONFIG_USAGE = '  bosun kubeconfig [--config FILE] [--root-dir DIR] [--user NAME] [--server URL]   print a kubeconfig for kubectl against this node\n';

export class KubeconfigError extends Error {}

export interface KubeconfigInput {
  nodeName: string;
  server: string;
  caPem: string;
  user: string;
  token: string;
}

export function kubeconfig(i: KubeconfigInput): string {
  const name = `bosun-${i.nodeName}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: i.server, 'certificate-authority-data': Buffer.from(i.caPem).toString('base64') } }],
    users: [{ name: `${i.user}@${name}`, user: { token: i.token } }],
    contexts: [{ name, context: { cluster: name, user: `${i.user}@${name}` } }],
    'current-context': name,
    preferences: {},
  });
}

/** The address kubectl should dial for a bind address. */
export function serverURL(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '::' || address === '' ? '127.0.0.1' : address;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function kubeconfigMain(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const options: Record<string, { type: 'string' }> = { config: { type: 'string' }, user: { type: 'string' }, server: { type: 'string' }, 'certificate-authority': { type: 'string' } };
  for (const f of Object.keys(FLAGS)) options[f] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  const { config: configPath, user, server, 'certificate-authority': caArg, ...flags } = values as Record<string, string | undefined>;
  const cfg = resolveConfig(flags, configPath);
  if (cfg.port <= 0) throw new KubeconfigError('the kubelet port is disabled (--port 0)');
  const dir = pkiDir(cfg.rootDir);
  const caFile = caArg ?? (cfg.tlsCertFile ? cfg.tlsCertFile : join(dir, 'ca.crt'));
  const tokenFile = cfg.tokenAuthFile ?? join(dir, 'tokens.csv');
  for (const f of [caFile, tokenFile]) {
    if (!existsSync(f)) throw new KubeconfigError(`${f} does not exist: start the agent once ("bosun run") so that it makes its serving certificate and token file, or pass --certificate-authority / --token-auth-file`);
  }
  const tokens = parseTokenFile(readFileSync(tokenFile, 'utf8'), tokenFile);
  const entry = user ? tokens.find((t) => t.user.name === user) : tokens[0];
  if (!entry) throw new KubeconfigError(user ? `no token for user "${user}" in ${tokenFile}` : `${tokenFile} has no token`);
  out.write(kubeconfig({ nodeName: cfg.nodeName, server: server ?? serverURL(cfg.address, cfg.port), caPem: readFileSync(caFile, 'utf8'), user: entry.user.name, token: entry.token }));
  return 0;
}
