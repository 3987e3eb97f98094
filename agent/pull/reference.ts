// Image references as the engines read them (distribution's ParseNormalizedNamed): the
// first path component is a registry when it has a '.', a ':' or is "localhost"; otherwise
// the image lives on Docker Hub (docker.io, with "library/" for one-component names).

export interface ImageName {
  /** Registry host[:port] as written ("docker.io" when none is). */
  registry: string;
  /** Repository path inside the registry. */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';

export function parseImageName(image: string): ImageName {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry = DOCKER_HUB;
  let repository = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The same image on another registry (a mirror): registry/repository with the tag and digest kept. */
export function onRegistry(name: ImageName, registry: string, pathPrefix = ''): string {
  const repo = pathPrefix ? `${pathPrefix.replace(/^\/+|\/+$/g, '')}/${name.repository}` : name.repository;
  return `${registry}/${repo}${name.tag !== undefined ? `:${name.tag}` : ''}${name.digest !== undefined ? `@${name.digest}` : ''}`;
}
