import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun, runCommand } from '../../base/index.js';

// The serving certificate of the kubelet port. Given files are used as they are; otherwise
// a CA and a serving certificate signed by it are made on first start under
// <root-dir>/pki (kubelet makes a self-signed pair in its cert dir the same way), and the
// serving certificate is made again when it expires or lacks one of the node's names.
// Node's crypto makes keys but cannot issue certificates, so openssl (argv, no shell) does.

export interface ServingFiles {
  certFile: string;
  keyFile: string;
  /** The CA that signed certFile, when bosun made it (what a kubeconfig trusts). */
  caFile?: string;
}

export function pkiDir(rootDir: string): string {
  return join(rootDir, 'pki');
}

/** The names a client may use for this node: what the certificate must cover. */
export function servingNames(nodeName: string, ips: string[]): { dns: string[]; ips: string[] } {
  return { dns: [...new Set(['localhost', nodeName])], ips: [...new Set(['127.0.0.1', '::1', ...ips])] };
}

/** True when the certificate (PEM) is valid for another day and names every name asked for. */
export function coversNames(pem: string, names: { dns: string[]; ips: string[] }, now = Date.now()): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return false;
  }
  if (Date.parse(cert.validTo) < now + 86_400_000) return false;
  const san = (cert.subjectAltName ?? '').split(',').map((s) => s.trim());
  const ipNorm = (ip: string) => (ip === '::1' ? '0:0:0:0:0:0:0:1' : ip);
  const has = (entry: string) => san.includes(entry);
  return names.dns.every((d) => has(`DNS:${d}`)) && names.ips.every((ip) => has(`IP Address:${ip}`) || has(`IP Address:${ipNorm(ip)}`));
}

async function openssl(args: string[]): Promise<void> {
  try {
    await mustRun(runCommand, 'openssl', args, { timeoutMs: 30_000 });
  } catch (err) {
    throw new Error(`openssl ${args[0]}: ${(err as Error).message}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes (or re-makes) the CA and serving pair under dir; returns their paths. */
export async function ensureServingCert(dir: string, nodeName: string, ips: string[]): Promise<Required<ServingFiles>> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const certFile = join(dir, 'kubelet.crt');
  const keyFile = join(dir, 'kubelet.key');
  const stamp = Math.floor(Date.now() / 1000);
  if (!existsSync(caFile) || !existsSync(caKey) || !coversCA(readFileSync(caFile, 'utf8'))) {
    await openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', caFile, '-days', '3650', '-subj', `/CN=${nodeName}-ca@${stamp}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    chmodSync(caKey, 0o600);
    rmSync(certFile, { force: true });
  }
  const names = servingNames(nodeName, ips);
  if (existsSync(certFile) && existsSync(keyFile) && coversNames(readFileSync(certFile, 'utf8'), names)) return { certFile, keyFile, caFile };
  const csr = join(dir, 'kubelet.csr');
  const ext = join(dir, 'kubelet.ext');
  try {
    await openssl(['req', '-new', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${nodeName}@${stamp}`]);
    chmodSync(keyFile, 0o600);
    const san = [...names.dns.map((d) => `DNS:${d}`), ...names.ips.map((ip) => `IP:${ip}`)].join(',');
    writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
    await openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '365', '-extfile', ext, '-out', certFile]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return { certFile, keyFile, caFile };
}

function coversCA(pem: string): boolean {
  try {
    const c = new X509Certificate(pem);
    return c.ca && Date.parse(c.validTo) > Date.now() + 30 * 86_400_000;
  } catch {
    return false;
  }
}

/**
 * The token file to use when none is given: <root-dir>/pki/tokens.csv, made on first start
 * with one random token for user bosun-admin (group system:masters), readable by root only.
 */
export function ensureTokenFile(dir: string): string {
  const path = join(dir, 'tokens.csv');
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path, `${randomBytes(24).toString('base64url')},bosun-admin,bosun-admin,"system:masters"\n`, { mode: 0o600, flag: 'wx' });
  return path;
}
