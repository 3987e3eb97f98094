import { matchGroups } from '../../base/index.js';
import type { RegistryAuth } from '../../cri/index.js';
import { DOCKER_HUB, parseImageName } from './reference.js';

// Registry credentials matched to an image as kubelet's credentialprovider keyring does
// (pkg/credentialprovider/keyring.go): each key is [scheme://]host[:port][/path]; a key
// matches an image when the host has as many dot-separated parts and each part matches
// (a '*' in a part matches within that part only), the ports are equal, and the key's
// path is a prefix of the repository. Longer keys are tried first. Every matching
// credential is tried in that order until a pull succeeds (kuberuntime_image.go PullImage).

export interface KeyringEntry {
  /** The key as written (for messages; never the secret). */
  key: string;
  host: string;
  port: string;
  path: string;
  auth: RegistryAuth;
  /** Where it came from: "secret default/regcred", "<root-dir>/config.json", "provider x". */
  source: string;
  /** Set for a pod's pull secret: only its holders may use what it pulled (verify.ts). */
  secret?: { namespace: string; name: string; uid: string };
}

/** A key of a docker config or of a credential provider's response. */
export function parseKey(key: string): { host: string; port: string; path: string } | undefined {
  let k = key.trim();
  if (k === '') return undefined;
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  // Docker Hub's legacy key.
  if (/^index\.docker\.io(\/v1\/?)?$/i.test(k) || /^registry-1\.docker\.io\b/i.test(k)) return { host: DOCKER_HUB, port: '', path: '' };
  const slash = k.indexOf('/');
  const hostPort = slash >= 0 ? k.slice(0, slash) : k;
  let path = slash >= 0 ? k.slice(slash + 1).replace(/\/+$/, '') : '';
  // "registry.io/v1/" and "/v2/" name the API, not a repository path.
  if (/^v[12]$/.test(path)) path = '';
  const m = matchGroups(/^([^:]+)(?::(\d+))?$/, hostPort, 1);
  if (!m) return undefined;
  return { host: m[1].toLowerCase(), port: m[2] ?? '', path };
}

function globPart(glob: string, part: string): boolean {
  const re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`);
  return re.test(part);
}

export function keyMatches(e: Pick<KeyringEntry, 'host' | 'port' | 'path'>, image: string): boolean {
  const name = parseImageName(image);
  const m = matchGroups(/^([^:]+)(?::(\d+))?$/, name.registry, 1);
  if (!m) return false;
  const host = m[1].toLowerCase();
  const port = m[2] ?? '';
  const gp = e.host.split('.');
  const tp = host.split('.');
  if (gp.length !== tp.length || !gp.every((g, i) => globPart(g, tp[i]!))) return false;
  if (e.port !== port) return false;
  if (e.path === '') return true;
  return name.repository === e.path || name.repository.startsWith(`${e.path}/`);
}

/** Credentials for an image, best match first (longer keys, then keys without wildcards). */
export function lookup(entries: readonly KeyringEntry[], image: string): KeyringEntry[] {
  // Reverse order of the keys without their scheme, as upstream's keyring sorts them.
  const norm = (e: KeyringEntry) => `${e.host}${e.port ? `:${e.port}` : ''}${e.path ? `/${e.path}` : ''}`;
  return entries
    .filter((e) => keyMatches(e, image))
    .sort((a, b) => (norm(a) < norm(b) ? 1 : norm(a) > norm(b) ? -1 : 0));
}

interface DockerConfigEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

/**
 * A docker config (`{"auths": {...}}`, the `.dockerconfigjson` of a Secret and
 * ~/.docker/config.json) or the legacy `.dockercfg` map. Throws an Error whose message
 * names the source and the key, never a value.
 */
export function parseDockerConfig(text: string, source: string): KeyringEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${source}: not valid JSON`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${source}: expected a JSON object`);
  const obj = doc as Record<string, unknown>;
  const auths = 'auths' in obj ? obj.auths : obj;
  if (auths == null) return [];
  if (typeof auths !== 'object' || Array.isArray(auths)) throw new Error(`${source}: auths: expected an object`);
  const out: KeyringEntry[] = [];
  for (const [key, raw] of Object.entries(auths as Record<string, unknown>)) {
    const k = parseKey(key);
    if (!k) throw new Error(`${source}: auths[${JSON.stringify(key)}]: not a registry host`);
    if (!raw || typeof raw !== 'object') throw new Error(`${source}: auths[${JSON.stringify(key)}]: expected an object`);
    const e = raw as DockerConfigEntry;
    let username = typeof e.username === 'string' ? e.username : undefined;
    let password = typeof e.password === 'string' ? e.password : undefined;
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i < 0) throw new Error(`${source}: auths[${JSON.stringify(key)}].auth: expected base64 of user:password`);
      username = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    }
    const auth: RegistryAuth = {
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(typeof e.identitytoken === 'string' && e.identitytoken ? { identityToken: e.identitytoken } : {}),
      ...(typeof e.registrytoken === 'string' && e.registrytoken ? { registryToken: e.registrytoken } : {}),
    };
    if (Object.keys(auth).length === 0) continue;
    out.push({ key, ...k, auth, source });
  }
  return out;
}
