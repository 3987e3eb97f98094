// A Docker container whose start fails is kept: it is the run the restart policy judges
// (kubelet's ShouldContainerBeRestarted). cri-dockerd (dockershim before it) reports it to
// kubelet as exited, reason ContainerCannotRun, started and finished at its creation;
// containerd's CRI says StartError for the same case.
// The engine side is in test/integration/start-failure.test.ts; here, what the backend asks
// of the engine and how it reads the container back.

import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { Containers, statusFromInspect } from '../../cri/docker/container.js';

function engine(startError: { statusCode: number; message: string }) {
  const calls: string[] = [];
  const docker = {
    getContainer: (id: string) => ({
      start: async () => {
        calls.push(`start ${id}`);
        throw Object.assign(new Error(startError.message), startError);
      },
      remove: async () => {
        calls.push(`remove ${id}`);
      },
    }),
  } as unknown as Docker;
  return { docker, calls };
}

describe('Docker container start failure', () => {
  it('keeps the container and reports RunContainerError', async () => {
    const { docker, calls } = engine({ statusCode: 400, message: 'OCI runtime create failed: exec: "/nonexistent": no such file or directory' });
    await expect(new Containers(docker).start('c1')).rejects.toMatchObject({ code: 'RunContainerError' });
    expect(calls).toEqual(['start c1']);
  });

  it('takes "already started" (304) as success', async () => {
    const { docker, calls } = engine({ statusCode: 304, message: 'container already started' });
    await new Containers(docker).start('c1');
    expect(calls).toEqual(['start c1']);
  });

  it('reads the kept container back as an exited run (ContainerCannotRun), as cri-dockerd reports it', () => {
    const info = {
      Id: 'c1', Created: '2026-12-03T15:00:00Z', Image: 'sha256:x',
      Config: { Labels: {} }, HostConfig: {},
      State: { Status: 'created', Running: false, ExitCode: 127, Error: 'OCI runtime create failed', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z', OOMKilled: false },
      Mounts: [],
    } as unknown as Docker.ContainerInspectInfo;
    const created = Date.parse('2026-12-03T15:00:00Z');
    expect(statusFromInspect(info)).toMatchObject({ state: 'exited', exitCode: 127, reason: 'ContainerCannotRun', message: 'OCI runtime create failed', startedAt: created, finishedAt: created });
  });
});
