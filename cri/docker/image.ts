import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { RuntimeError, type ImageInfo, type RegistryAuth } from '../runtime.js';
import { engineMessage, isNotFound, statusCode, wrapEngineError } from './errors.js';
import { drainProgress } from './jsonlines.js';

/**
 * Splits a reference into Docker's fromImage and tag. The tag must never be empty: the
 * create-image endpoint pulls every tag of the repository when it is.
 */
export function splitReference(ref: string): { fromImage: string; tag: string } {
  const at = ref.indexOf('@');
  if (at >= 0) return { fromImage: ref.slice(0, at), tag: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  // A colon before the last slash is a registry port (localhost:5000/x), not a tag.
  if (colon > ref.lastIndexOf('/')) return { fromImage: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { fromImage: ref, tag: 'latest' };
}

// The distribution reference grammar, in short: lowercase path components separated by
// '/', an optional registry host[:port] first, then :tag and/or @digest.
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)';
const REFERENCE = new RegExp(
  `^(?:${HOST}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[\\w][\\w.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,})?$`,
);

export function isValidReference(ref: string): boolean {
  return ref.length <= 255 + 128 + 80 && REFERENCE.test(ref);
}

function toImageInfo(i: {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size: number;
  Config?: { User?: string } | null;
}): ImageInfo {
  const user = i.Config?.User;
  return {
    id: i.Id,
    repoTags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    repoDigests: (i.RepoDigests ?? []).filter((d) => d !== '<none>@<none>'),
    size: i.Size,
    ...(user !== undefined ? { user } : {}),
  };
}

export class Images {
  constructor(
    private readonly docker: Docker,
    private readonly pullTimeoutMs: number,
  ) {}

  async pull(ref: string, auth?: RegistryAuth): Promise<string> {
    if (!isValidReference(ref)) {
      throw new RuntimeError('InvalidImageName', `invalid image reference ${JSON.stringify(ref)}`);
    }
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.pullTimeoutMs);
    try {
      // X-Registry-Auth: the engine's AuthConfig (username, password, serveraddress,
      // identitytoken, registrytoken).
      const authconfig = auth
        ? { username: auth.username, password: auth.password, serveraddress: auth.serverAddress, identitytoken: auth.identityToken, registrytoken: auth.registryToken }
        : undefined;
      const stream = (await this.docker.createImage({
        ...splitReference(ref),
        ...(authconfig ? { authconfig } : {}),
        abortSignal: abort.signal,
      })) as Readable;
      await drainProgress(stream);
    } catch (err) {
      if (abort.signal.aborted) {
        throw new RuntimeError('ErrImagePull', `pulling image ${ref}: timed out after ${this.pullTimeoutMs} ms`, {
          cause: err,
        });
      }
      // The engine validates too, with a grammar that may be newer than ours.
      if (statusCode(err) === 400 && /invalid reference format/i.test(engineMessage(err))) {
        throw new RuntimeError('InvalidImageName', `pulling image ${ref}: ${engineMessage(err)}`, { cause: err });
      }
      throw wrapEngineError('ErrImagePull', `pulling image ${ref}`, err);
    } finally {
      clearTimeout(timer);
    }
    const info = await this.status(ref);
    if (!info) throw new RuntimeError('ErrImagePull', `pulling image ${ref}: the engine reports success but has no such image`);
    return info.id;
  }

  async tag(source: string, target: string): Promise<void> {
    const { fromImage, tag } = splitReference(target);
    try {
      await this.docker.getImage(source).tag({ repo: fromImage, tag });
    } catch (err) {
      throw wrapEngineError('ErrImagePull', `tagging image ${source} as ${target}`, err);
    }
  }

  async status(ref: string): Promise<ImageInfo | undefined> {
    try {
      return toImageInfo(await this.docker.getImage(ref).inspect());
    } catch (err) {
      // 400 is what the engine says to a reference it cannot parse: no such image either.
      if (isNotFound(err) || statusCode(err) === 400) return undefined;
      throw wrapEngineError(undefined, `inspecting image ${ref}`, err);
    }
  }

  async list(): Promise<ImageInfo[]> {
    try {
      return (await this.docker.listImages()).map(toImageInfo);
    } catch (err) {
      throw wrapEngineError(undefined, 'listing images', err);
    }
  }

  /**
   * Removing by tag only untags (other tags keep the image); removing by id removes the
   * image under all its tags, which the engine refuses to do in one call without force.
   */
  async remove(ref: string): Promise<void> {
    try {
      const info = await this.status(ref);
      if (!info) return;
      const hex = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref)?.[1];
      const byId = hex !== undefined && info.id.startsWith(`sha256:${hex}`);
      if (byId) {
        // Untagging goes through even when a container uses the image, and the engine's
        // refusal would come only at the last tag: every container of the engine (bosun's
        // or not) is checked first, so that an image in use keeps all its names.
        const users = await this.docker.listContainers({ all: true });
        const user = users.find((c) => c.ImageID === info.id);
        if (user) throw new RuntimeError('Conflict', `image ${info.id} is used by container ${user.Id.slice(0, 12)}: not removed`);
        for (const tag of info.repoTags) await this.removeQuietly(tag);
        await this.removeQuietly(info.id);
      } else {
        await this.removeQuietly(ref);
      }
    } catch (err) {
      throw wrapEngineError(undefined, `removing image ${ref}`, err);
    }
  }

  private async removeQuietly(ref: string): Promise<void> {
    try {
      await this.docker.getImage(ref).remove();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** docker load; returns the tags the archive carried (or image ids for untagged images). */
  async import(tarPath: string): Promise<string[]> {
    try {
      await access(tarPath);
    } catch (err) {
      throw new RuntimeError('ImageNotFound', `importing image archive ${tarPath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const tags: string[] = [];
    const ids: string[] = [];
    try {
      const stream = (await this.docker.loadImage(createReadStream(tarPath), { quiet: true })) as Readable;
      await drainProgress(stream, (o) => {
        if (typeof o.stream !== 'string') return;
        for (const line of o.stream.split('\n')) {
          const tag = /^Loaded image: (.+)$/.exec(line.trim());
          if (tag?.[1]) tags.push(tag[1]);
          const id = /^Loaded image ID: (.+)$/.exec(line.trim());
          if (id?.[1]) ids.push(id[1]);
        }
      });
    } catch (err) {
      throw wrapEngineError('ErrImagePull', `importing image archive ${tarPath}`, err);
    }
    return tags.length > 0 ? tags : ids;
  }
}
