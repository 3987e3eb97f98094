import { closeSync, constants, existsSync, fchmodSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { resolveConfig } from '../config.js';
import { UserError } from '../user-error.js';
import { parseCommand, type Command } from '../settings/index.js';
import { parseTokenFile } from './auth.js';
import { pkiDir } from './pki.js';

// `bosun kubeconfig`: a kubeconfig for kubectl against this standalone node's kubelet
// port: the server, the CA that signed the serving certificate, a token from the token file.

export const KUBECONFIG_COMMAND: Command = {
  name: 'kubeconfig',
  usage: 'kubeconfig [--config FILE] [--root-dir DIR] [--user NAME] [--server URL] [--output FILE] [flags of run]',
  summary: 'Print (or write, mode 0600) a kubeconfig for kubectl against this node.',
  description: "It holds the node's CA and a token from the token file; the flags of run say where they are.",
  config: true,
  settings: 'all',
  options: [
    { name: 'user', type: 'string', arg: 'NAME', help: "Whose token (default: the token file's first)." },
    { name: 'server', type: 'string', arg: 'URL', help: 'The URL kubectl dials (default: https://<address>:<port>).' },
    { name: 'certificate-authority', type: 'string', arg: 'FILE', help: 'The CA kubectl trusts (default: <rootDir>/pki/ca.crt, or --tls-cert-file).' },
    { name: 'output', type: 'string', arg: 'FILE', help: 'Write it to FILE, mode 0600, instead of stdout.' },
  ],
};

export class KubeconfigError extends UserError {}

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

/**
 * The kubeconfig holds a token of the system:masters group: `--output FILE` writes it 0600
 * (an existing file is truncated and its mode tightened; a symlink is refused). Printed to
 * stdout instead, it goes wherever the shell sends it: when that is a file that group or
 * others can read, a warning says so (`bosun kubeconfig > f` makes f 0644 under umask 022).
 */
export async function kubeconfigMain(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, stdoutFd = 1): Promise<number> {
  const { values, flags, config: configPath } = parseCommand(KUBECONFIG_COMMAND, argv);
  const { user, server, 'certificate-authority': caArg, output } = values as { user?: string; server?: string; 'certificate-authority'?: string; output?: string };
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
  const text = kubeconfig({ nodeName: cfg.nodeName, server: server ?? serverURL(cfg.address, cfg.port), caPem: readFileSync(caFile, 'utf8'), user: entry.user.name, token: entry.token });
  if (output) {
    writePrivate(output, text);
    return 0;
  }
  const mode = stdoutMode(stdoutFd);
  if (mode !== undefined && (mode & 0o077) !== 0) {
    err.write(`warning: stdout is a file readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); this kubeconfig holds a cluster-admin token: use --output FILE (written 0600) or chmod 600 the file\n`);
  }
  out.write(text);
  return 0;
}

function writePrivate(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    throw new KubeconfigError(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    // An existing file keeps its mode through O_CREAT: tightened before the token goes in.
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** The permission bits of stdout when it is a regular file; undefined for a tty or a pipe. */
function stdoutMode(fd: number): number | undefined {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? st.mode : undefined;
  } catch {
    return undefined;
  }
}
