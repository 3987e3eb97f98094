import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../config-error.js';
import { duration } from '../settings/parse.js';
import type { KeyringEntry } from './keyring.js';
import { keyMatches, parseKey } from './keyring.js';
import { parseImageName } from './reference.js';

// kubelet's exec credential provider plugins (--image-credential-provider-config and
// --image-credential-provider-bin-dir; pkg/credentialprovider/plugin): for an image that
// one of a provider's matchImages patterns matches, the binary <bin-dir>/<name> gets a
// CredentialProviderRequest on stdin and answers a CredentialProviderResponse whose auth
// map is matched against the image like a docker config. Answers are cached per image,
// registry or globally (cacheKeyType) for cacheDuration (else defaultCacheDuration).

const API_VERSIONS = ['credentialprovider.kubelet.k8s.io/v1', 'credentialprovider.kubelet.k8s.io/v1beta1', 'credentialprovider.kubelet.k8s.io/v1alpha1'];

export interface CredentialProvider {
  name: string;
  matchImages: string[];
  defaultCacheDurationMs: number;
  apiVersion: string;
  args: string[];
  env: { name: string; value: string }[];
}

/** Reads and validates a CredentialProviderConfig; errors name the file and the field. */
export function loadCredentialProviderConfig(path: string, binDir: string): CredentialProvider[] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  const d = (doc ?? {}) as { kind?: unknown; providers?: unknown };
  if (d.kind !== 'CredentialProviderConfig') throw new ConfigError(`${path}: kind: Invalid value: ${JSON.stringify(d.kind)}: expected "CredentialProviderConfig"`);
  if (!Array.isArray(d.providers) || d.providers.length === 0) throw new ConfigError(`${path}: providers: Required value: at least one provider`);
  const seen = new Set<string>();
  return d.providers.map((raw, i) => {
    const f = `${path}: providers[${i}]`;
    const p = (raw ?? {}) as Record<string, unknown>;
    const name = String(p.name ?? '');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name === '.' || name === '..') throw new ConfigError(`${f}.name: Invalid value: ${JSON.stringify(p.name)}: a file name in ${binDir} (no path separators)`);
    if (seen.has(name)) throw new ConfigError(`${f}.name: Duplicate value: ${JSON.stringify(name)}`);
    seen.add(name);
    try {
      if (!statSync(join(binDir, name)).isFile()) throw new Error('not a file');
    } catch {
      throw new ConfigError(`${f}.name: Invalid value: ${JSON.stringify(name)}: no executable ${join(binDir, name)}`);
    }
    if (!Array.isArray(p.matchImages) || p.matchImages.length === 0) throw new ConfigError(`${f}.matchImages: Required value`);
    const matchImages = p.matchImages.map(String);
    matchImages.forEach((m, j) => {
      if (!parseKey(m)) throw new ConfigError(`${f}.matchImages[${j}]: Invalid value: ${JSON.stringify(m)}`);
    });
    if (p.defaultCacheDuration === undefined) throw new ConfigError(`${f}.defaultCacheDuration: Required value`);
    const defaultCacheDurationMs = duration(p.defaultCacheDuration, `${f}.defaultCacheDuration`);
    const apiVersion = String(p.apiVersion ?? '');
    if (!API_VERSIONS.includes(apiVersion)) throw new ConfigError(`${f}.apiVersion: Unsupported value: ${JSON.stringify(p.apiVersion)}: supported values: ${API_VERSIONS.map((v) => `"${v}"`).join(', ')}`);
    const args = Array.isArray(p.args) ? p.args.map(String) : [];
    const env = Array.isArray(p.env) ? p.env.map((e, j) => {
      const x = (e ?? {}) as { name?: unknown; value?: unknown };
      if (typeof x.name !== 'string' || !x.name) throw new ConfigError(`${f}.env[${j}].name: Required value`);
      return { name: x.name, value: String(x.value ?? '') };
    }) : [];
    return { name, matchImages, defaultCacheDurationMs, apiVersion, args, env };
  });
}

interface CacheEntry {
  expires: number;
  entries: KeyringEntry[];
}

export class CredentialProviders {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly providers: CredentialProvider[],
    private readonly binDir: string,
    private readonly now: () => number,
    private readonly timeoutMs = 30_000,
  ) {}

  /** Credentials every matching provider gives for the image (a failing provider gives none). */
  async lookup(image: string, onError: (provider: string, message: string) => void): Promise<KeyringEntry[]> {
    const out: KeyringEntry[] = [];
    const name = parseImageName(image);
    for (const p of this.providers) {
      if (!p.matchImages.some((m) => keyMatches(parseKey(m)!, image))) continue;
      const keys = [`${p.name}\u0000image\u0000${image}`, `${p.name}\u0000registry\u0000${name.registry}`, `${p.name}\u0000global`];
      const hit = keys.map((k) => this.cache.get(k)).find((e) => e && e.expires > this.now());
      if (hit) {
        out.push(...hit.entries);
        continue;
      }
      try {
        const r = await this.exec(p, image);
        const entries: KeyringEntry[] = [];
        for (const [key, a] of Object.entries(r.auth)) {
          const k = parseKey(key);
          if (!k) continue;
          entries.push({ key, ...k, auth: { username: a.username, password: a.password }, source: `provider ${p.name}` });
        }
        const ttl = r.cacheDurationMs ?? p.defaultCacheDurationMs;
        const key = r.cacheKeyType === 'Image' ? keys[0]! : r.cacheKeyType === 'Global' ? keys[2]! : keys[1]!;
        if (ttl > 0) this.cache.set(key, { expires: this.now() + ttl, entries });
        out.push(...entries);
      } catch (err) {
        onError(p.name, (err as Error).message);
      }
    }
    return out;
  }

  private exec(p: CredentialProvider, image: string): Promise<{ auth: Record<string, { username: string; password: string }>; cacheKeyType: string; cacheDurationMs?: number }> {
    const bin = join(this.binDir, p.name);
    return new Promise((resolve, reject) => {
      const child = spawn(bin, p.args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...Object.fromEntries(p.env.map((e) => [e.name, e.value])) } });
      const out: Buffer[] = [];
      let size = 0;
      let errText = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        size += d.length;
        if (size <= 1 << 20) out.push(d);
      });
      child.stderr.on('data', (d: Buffer) => (errText = (errText + d.toString()).slice(-500)));
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`credential provider ${p.name}: ${err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        // stderr is the plugin's own diagnostics; stdout may hold a secret, so it is never quoted.
        if (code !== 0) return reject(new Error(`credential provider ${p.name} exited with ${signal ?? code}: ${errText.trim()}`));
        if (size > 1 << 20) return reject(new Error(`credential provider ${p.name}: response larger than 1 MiB`));
        let doc: { kind?: unknown; apiVersion?: unknown; cacheKeyType?: unknown; cacheDuration?: unknown; auth?: unknown };
        try {
          doc = JSON.parse(Buffer.concat(out).toString('utf8'));
        } catch {
          return reject(new Error(`credential provider ${p.name}: the response is not JSON`));
        }
        if (doc.kind !== 'CredentialProviderResponse') return reject(new Error(`credential provider ${p.name}: kind is not CredentialProviderResponse`));
        if (doc.apiVersion !== p.apiVersion) return reject(new Error(`credential provider ${p.name}: apiVersion ${JSON.stringify(doc.apiVersion)} does not match the config's ${p.apiVersion}`));
        const cacheKeyType = String(doc.cacheKeyType ?? '');
        if (!['Image', 'Registry', 'Global'].includes(cacheKeyType)) return reject(new Error(`credential provider ${p.name}: cacheKeyType must be Image, Registry or Global`));
        let cacheDurationMs: number | undefined;
        if (doc.cacheDuration !== undefined && doc.cacheDuration !== null && doc.cacheDuration !== '') {
          try {
            cacheDurationMs = duration(doc.cacheDuration, 'cacheDuration');
          } catch {
            return reject(new Error(`credential provider ${p.name}: cacheDuration is not a duration`));
          }
        }
        const auth: Record<string, { username: string; password: string }> = {};
        if (doc.auth && typeof doc.auth === 'object') {
          for (const [k, v] of Object.entries(doc.auth as Record<string, { username?: unknown; password?: unknown }>)) {
            auth[k] = { username: String(v?.username ?? ''), password: String(v?.password ?? '') };
          }
        }
        resolve({ auth, cacheKeyType, ...(cacheDurationMs !== undefined ? { cacheDurationMs } : {}) });
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify({ apiVersion: p.apiVersion, kind: 'CredentialProviderRequest', image }));
    });
  }
}
