import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

// Test registries on 127.0.0.1 through scripts/registry.sh (Debian's docker-registry),
// shared by the image tests, the benchmarks and the conformance suite. Each test picks a
// unique name; stop() removes the registry's storage and the engines' trust entries.

const run = promisify(execFile);
const SCRIPT = resolve('scripts/registry.sh');

export const CTD_SOCK = '/run/bosun-containerd/containerd.sock';
/** bosun's containerd config_path (scripts/setup-host.sh). */
export const CTD_CERTS_DIR = '/etc/bosun-containerd/certs.d';

/** Stops registries that interrupted runs left (started more than an hour ago). */
export async function pruneTestRegistries(): Promise<void> {
  await run(SCRIPT, ['prune', '60']).catch(() => undefined);
}

export class TestRegistry {
  addr = '';
  constructor(readonly name: string, readonly auth?: { username: string; password: string }) {}

  async start(): Promise<string> {
    const args = ['start', this.name, ...(this.auth ? ['--auth', `${this.auth.username}:${this.auth.password}`] : [])];
    this.addr = (await run(SCRIPT, args)).stdout.trim();
    return this.addr;
  }

  /** Pushes a local Docker image as <addr>/repoTag; returns the digest reference. */
  async push(image: string, repoTag: string): Promise<string> {
    return (await run(SCRIPT, ['push', this.name, image, repoTag], { maxBuffer: 1 << 20 })).stdout.trim();
  }

  async down(): Promise<void> {
    await run(SCRIPT, ['down', this.name]);
  }

  async up(): Promise<void> {
    await run(SCRIPT, ['up', this.name]);
  }

  async stop(): Promise<void> {
    await run(SCRIPT, ['stop', this.name]).catch(() => undefined);
  }
}

/**
 * A local image of its own (busybox plus a unique label, optionally a layer of `padMiB`
 * random MiB), so that removing it never touches the shared localhost/bosun/busybox:1.
 */
export async function buildTestImage(tag: string, padMiB = 0): Promise<void> {
  const dockerfile = padMiB > 0
    ? `FROM localhost/bosun/busybox:1\nRUN ["dd", "if=/dev/urandom", "of=/pad", "bs=1048576", "count=${padMiB}"]\nLABEL io.bosun.test=${JSON.stringify(tag)}\n`
    : `FROM localhost/bosun/busybox:1\nLABEL io.bosun.test=${JSON.stringify(tag)}\n`;
  await new Promise<void>((res, rej) => {
    const p = execFile('docker', ['build', '-q', '--network', 'none', '-t', tag, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' } }, (err) => (err ? rej(err) : res()));
    p.stdin!.end(dockerfile);
  });
}

/** Removes image names from Docker and from bosun's containerd (by name only: never CRI RemoveImage, which drops every name of the image). */
export async function removeImageNames(names: string[]): Promise<void> {
  for (const n of names) {
    await run('docker', ['rmi', n]).catch(() => undefined);
    await run('ctr', ['-a', CTD_SOCK, '-n', 'k8s.io', 'images', 'rm', n]).catch(() => undefined);
  }
}

/** Every name (tags and digests) either engine has for images of a registry address. */
export async function imageNamesOf(addr: string): Promise<string[]> {
  const d = (await run('docker', ['images', '--digests', '--format', '{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}']).catch(() => ({ stdout: '' }))).stdout;
  const c = (await run('ctr', ['-a', CTD_SOCK, '-n', 'k8s.io', 'images', 'ls', '-q']).catch(() => ({ stdout: '' }))).stdout;
  return [...d.split(/\s+/), ...c.split(/\s+/)].filter((n) => n.startsWith(`${addr}/`) && !n.endsWith(':<none>') && !n.endsWith('@<none>'));
}

/**
 * A TCP relay on 127.0.0.1 in front of a registry that passes the registry's answers at
 * `bytesPerSecond`, so that a pull is still running when a test stops the registry behind
 * it. `relayed` counts the bytes passed to clients. Engines reach it over plain HTTP
 * (Docker: 127.0.0.0/8 is insecure; containerd: the hosts.toml start() writes).
 */
export class SlowRelay {
  addr = '';
  relayed = 0;
  private server?: import('node:net').Server;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly target: () => string, private readonly bytesPerSecond: number) {}

  async start(): Promise<string> {
    const net = await import('node:net');
    // When the relay's last byte may leave at this rate. Idle time earns no credit: a
    // budget counted from start() let a pull made minutes later pass at full speed and
    // finish before the test could stop the registry behind it.
    let due = Date.now();
    this.server = net.createServer((client) => {
      const [host, port] = this.target().split(':');
      const upstream = net.connect(Number(port), host!);
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => {
        this.relayed += d.length;
        client.write(d);
        const now = Date.now();
        due = Math.max(due, now) + d.length / this.bytesPerSecond * 1000;
        const ahead = due - now;
        if (ahead > 0) {
          upstream.pause();
          setTimeout(() => upstream.resume(), ahead);
        }
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address() as import('node:net').AddressInfo;
    this.addr = `127.0.0.1:${a.port}`;
    await mkdir(join(CTD_CERTS_DIR, this.addr), { recursive: true });
    await writeFile(join(CTD_CERTS_DIR, this.addr, 'hosts.toml'), `server = "http://${this.addr}"\n\n[host."http://${this.addr}"]\n  capabilities = ["pull", "resolve"]\n`);
    return this.addr;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (this.addr) await rm(join(CTD_CERTS_DIR, this.addr), { recursive: true, force: true });
  }
}
