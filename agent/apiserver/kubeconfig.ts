import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config-error.js';

// --kubeconfig: the current context's cluster (server, CA or insecure-skip-tls-verify) and
// user (token, tokenFile, client certificate and key, or an exec credential plugin), as
// client-go's clientcmd reads them. Relative file paths are relative to the kubeconfig.

/** A ConfigError: the CLI reports it as one line, like any other bad setting. */
export class KubeconfigLoadError extends ConfigError {}

export interface ExecConfig {
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  apiVersion: string;
}

export interface RestConfig {
  server: string;
  ca?: Buffer;
  insecure: boolean;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  exec?: ExecConfig;
  namespace: string;
}

interface Named<T> { name: string; [k: string]: unknown; cluster?: T; user?: T; context?: T }

export function loadKubeconfig(path: string): RestConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new KubeconfigLoadError(`--kubeconfig ${path}: ${(err as Error).message}`);
  }
  const base = dirname(resolve(path));
  const file = (p: unknown) => readFileSync(isAbsolute(String(p)) ? String(p) : resolve(base, String(p)));
  const pick = <T>(list: unknown, name: string | undefined, what: string): T => {
    const items = (Array.isArray(list) ? list : []) as Named<T>[];
    const it = name ? items.find((i) => i.name === name) : items[0];
    if (!it) throw new KubeconfigLoadError(`--kubeconfig ${path}: no ${what}${name ? ` named "${name}"` : ''}`);
    return (it.cluster ?? it.user ?? it.context ?? {}) as T;
  };
  const ctx = pick<{ cluster?: string; user?: string; namespace?: string }>(doc.contexts, doc['current-context'] as string | undefined, 'context');
  const cluster = pick<Record<string, unknown>>(doc.clusters, ctx.cluster, 'cluster');
  const user = ctx.user || Array.isArray(doc.users) ? pick<Record<string, unknown>>(doc.users, ctx.user, 'user') : {};
  if (!cluster.server) throw new KubeconfigLoadError(`--kubeconfig ${path}: the cluster has no server`);
  const out: RestConfig = { server: String(cluster.server).replace(/\/+$/, ''), insecure: cluster['insecure-skip-tls-verify'] === true, namespace: ctx.namespace ?? 'default' };
  if (cluster['certificate-authority-data']) out.ca = Buffer.from(String(cluster['certificate-authority-data']), 'base64');
  else if (cluster['certificate-authority']) out.ca = file(cluster['certificate-authority']);
  if (user['client-certificate-data']) out.cert = Buffer.from(String(user['client-certificate-data']), 'base64');
  else if (user['client-certificate']) out.cert = file(user['client-certificate']);
  if (user['client-key-data']) out.key = Buffer.from(String(user['client-key-data']), 'base64');
  else if (user['client-key']) out.key = file(user['client-key']);
  if (user.token) out.token = String(user.token);
  if (user.tokenFile) out.tokenFile = isAbsolute(String(user.tokenFile)) ? String(user.tokenFile) : resolve(base, String(user.tokenFile));
  const exec = user.exec as { command?: string; args?: string[]; env?: { name: string; value: string }[] | null; apiVersion?: string } | undefined;
  if (exec?.command) {
    out.exec = { command: exec.command, args: exec.args ?? [], env: exec.env ?? [], apiVersion: exec.apiVersion ?? 'client.authentication.k8s.io/v1' };
  }
  return out;
}

export interface Credentials {
  token?: string;
  cert?: Buffer;
  key?: Buffer;
  /** ms since the epoch; undefined: no expiry. */
  expires?: number;
}

/** Runs an exec credential plugin (client.authentication.k8s.io ExecCredential). */
export async function runExecPlugin(e: ExecConfig, server: string): Promise<Credentials> {
  const input = JSON.stringify({ apiVersion: e.apiVersion, kind: 'ExecCredential', spec: { interactive: false, cluster: { server } } });
  const stdout = await new Promise<string>((res, rej) => {
    execFile(e.command, e.args, { env: { ...process.env, ...Object.fromEntries(e.env.map((x) => [x.name, x.value])), KUBERNETES_EXEC_INFO: input }, timeout: 30_000 }, (err, out, errOut) => {
      if (err) rej(new Error(`exec plugin ${e.command}: ${err.message}${errOut ? `: ${errOut.trim()}` : ''}`));
      else res(out);
    });
  });
  let st: { token?: string; clientCertificateData?: string; clientKeyData?: string; expirationTimestamp?: string };
  try {
    st = (JSON.parse(stdout) as { status?: typeof st }).status ?? {};
  } catch (err) {
    throw new Error(`exec plugin ${e.command}: output is not an ExecCredential: ${(err as Error).message}`);
  }
  return {
    ...(st.token ? { token: st.token } : {}),
    ...(st.clientCertificateData ? { cert: Buffer.from(st.clientCertificateData) } : {}),
    ...(st.clientKeyData ? { key: Buffer.from(st.clientKeyData) } : {}),
    ...(st.expirationTimestamp ? { expires: Date.parse(st.expirationTimestamp) } : {}),
  };
}
