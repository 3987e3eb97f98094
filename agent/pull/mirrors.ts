import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../config-error.js';
import type { ImageName } from './reference.js';
import { onRegistry, parseImageName } from './reference.js';

// Node-level registry mirrors: registry -> endpoints tried in order, then the registry
// itself, with containerd's hosts.toml semantics (pull and resolve only). On containerd the
// setting is written as <config_path>/<registry>/hosts.toml and containerd applies it; on
// Docker (whose registry-mirrors cover Docker Hub only) bosun pulls the mirror's reference
// and tags it with the original name.

export type RegistryMirrors = Record<string, string[]>;

const HOST_PORT = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?$/;

/** The `registryMirrors` setting: {"registry.example:5000": ["http://127.0.0.1:5001", ...]}. */
export function parseRegistryMirrors(v: unknown, field: string): RegistryMirrors {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${field}: Invalid value: expected a map of registry host to a list of mirror URLs`);
  const out: RegistryMirrors = {};
  for (const [registry, list] of Object.entries(v as Record<string, unknown>)) {
    if (!HOST_PORT.test(registry)) throw new ConfigError(`${field}[${JSON.stringify(registry)}]: Invalid value: a registry host[:port]`);
    if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`${field}[${JSON.stringify(registry)}]: Invalid value: a non-empty list of mirror URLs`);
    out[registry] = list.map((u, i) => {
      const f = `${field}[${JSON.stringify(registry)}][${i}]`;
      let url: URL;
      try {
        url = new URL(String(u));
      } catch {
        throw new ConfigError(`${f}: Invalid value: ${JSON.stringify(u)}: an http:// or https:// URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${f}: Invalid value: ${JSON.stringify(u)}: an http:// or https:// URL`);
      if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.username || url.password) throw new ConfigError(`${f}: Invalid value: ${JSON.stringify(u)}: scheme://host[:port] only (no path, query or user)`);
      return `${url.protocol}//${url.host}`;
    });
  }
  return out;
}

/** The references to try, in order, for an image on Docker: each mirror's, then the image's own. */
export function mirrorCandidates(mirrors: RegistryMirrors, image: string): { ref: string; mirror?: string }[] {
  const name: ImageName = parseImageName(image);
  const list = mirrors[name.registry] ?? [];
  return [...list.map((m) => ({ ref: onRegistry(name, new URL(m).host), mirror: m })), { ref: image }];
}

export const HOSTS_TOML_MARK = '# Written by bosun from its registryMirrors setting; rewritten at each start.';

/** containerd's hosts.toml for one registry: the mirrors in order, then the registry as server. */
export function renderHostsToml(registry: string, endpoints: string[]): string {
  const server = registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;
  return [
    HOSTS_TOML_MARK,
    `server = ${JSON.stringify(server)}`,
    '',
    ...endpoints.flatMap((e) => [`[host.${JSON.stringify(e)}]`, '  capabilities = ["pull", "resolve"]', '']),
  ].join('\n');
}

/**
 * Writes one hosts.toml per mirrored registry under containerd's config_path. A file bosun
 * did not write is left alone (the operator's own), and reported.
 */
export async function writeHostsFiles(dir: string, mirrors: RegistryMirrors): Promise<{ written: string[]; foreign: string[] }> {
  const written: string[] = [];
  const foreign: string[] = [];
  for (const [registry, endpoints] of Object.entries(mirrors)) {
    const d = join(dir, registry);
    const file = join(d, 'hosts.toml');
    const old = await readFile(file, 'utf8').catch(() => undefined);
    if (old !== undefined && !old.startsWith(HOSTS_TOML_MARK)) {
      foreign.push(file);
      continue;
    }
    const text = renderHostsToml(registry, endpoints);
    if (old !== text) {
      await mkdir(d, { recursive: true });
      await writeFile(`${file}.tmp`, text, { mode: 0o644 });
      await rename(`${file}.tmp`, file);
    }
    written.push(file);
  }
  return { written, foreign };
}
