// The Docker client's per-request cost must not grow with the connections the agent holds
// open. docker-modem formats each request's options, the http.Agent included, with
// util.inspect (showHidden, unlimited depth) whether or not its debug output is on; an agent
// that prints its sockets made every engine call cost O(open connections) of CPU: with the
// log followers of a few dozen pods, most of the agent's CPU, and Docker container starts of
// one pod 20-25 s apart under load (issue 13). Measured as what is printed, not as time.

import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerClient } from '../../cri/docker/index.js';

let dir: string | undefined;
let server: Server | undefined;
const held: Socket[] = [];

afterEach(async () => {
  for (const s of held.splice(0)) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('dockerClient', () => {
  it('prints its connection agent in one short line, however many requests are open', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-docker-client-'));
    const socketPath = join(dir, 'docker.sock');
    // An engine that answers nothing: every request stays open, as a log follower's does.
    server = createServer((s) => held.push(s));
    await new Promise<void>((r) => server!.listen(socketPath, r));
    const docker = dockerClient(socketPath);
    const modem = docker.modem as unknown as { agent: object };
    const open = 40;
    const pending = Array.from({ length: open }, (_, i) => docker.getContainer(`c${i}`).inspect().catch(() => undefined));
    while (held.length < open) await new Promise((r) => setTimeout(r, 10));
    // What docker-modem does with the options of every request it sends.
    const printed = inspect({ agent: modem.agent }, { showHidden: true, depth: null });
    expect(printed.length).toBeLessThan(200);
    for (const s of held) s.destroy();
    await Promise.all(pending);
  });
});
