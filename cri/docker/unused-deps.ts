import { createRequire } from 'node:module';

// Two parts of the Docker client that bosun never uses are kept from loading, because each
// sets up far more than it is worth in an agent that stays resident:
// - docker-modem's ssh transport (ssh:// Docker hosts) loads ssh2, whose ciphers allocate a
//   WebAssembly heap at once: ~14 MiB resident;
// - dockerode's BuildKit session (buildImage with version 2) loads gRPC and protobuf: ~12 MiB.
// bosun reaches the engine over its unix socket and never builds images, so each of those
// `require`s is answered, before dockerode is loaded, with a module that refuses to be used.
// This module must be imported before dockerode (cri/docker/index.ts imports it first); on
// another node_modules layout nothing is stubbed and everything works as before.

const fromHere = createRequire(import.meta.url);
const { Module } = fromHere('node:module') as { Module: new (id: string) => NodeJS.Module };

function refuse(from: string, request: string, exports: unknown): void {
  try {
    const req = createRequire(fromHere.resolve(from));
    const path = req.resolve(request);
    if (req.cache[path]) return;
    const m = new Module(path);
    m.exports = exports;
    m.filename = path;
    m.loaded = true;
    req.cache[path] = m;
  } catch {
    // Not laid out as expected: the real module loads when it is asked for.
  }
}

const unsupported = (what: string) => () => {
  throw new Error(`${what} is not supported: bosun reaches the Docker engine over its unix socket and builds no images`);
};

refuse('docker-modem', 'ssh2', { Client: unsupported('an ssh:// Docker host') });
refuse('dockerode', './session.js', unsupported('a BuildKit session'));
