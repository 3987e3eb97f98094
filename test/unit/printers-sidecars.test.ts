import { describe, expect, it } from 'vitest';
import { podReadyCount } from '../../agent/printers.js';
import type { ContainerStatus } from '../../manifests/index.js';
import { ctr, pod } from '../support/fixtures.js';

// kubectl's READY column counts sidecars (issue 13 item 3): printers/internalversion printPod.

const st = (name: string, o: Partial<ContainerStatus>): ContainerStatus => ({ name, state: { running: { startedAt: 'x' } }, lastState: {}, ready: false, restartCount: 0, image: '', imageID: '', started: true, ...o });

describe('podReadyCount', () => {
  const p = pod({ initContainers: [ctr('init'), ctr('proxy', { restartPolicy: 'Always' })], containers: [ctr('a'), ctr('b')] });

  it('counts sidecars in the total and, once started and ready, as ready', () => {
    p.status = {
      initContainerStatuses: [st('init', { state: { terminated: { exitCode: 0, reason: 'Completed' } }, ready: true, started: false }), st('proxy', { ready: true })],
      containerStatuses: [st('a', { ready: true }), st('b', { ready: false })],
    };
    expect(podReadyCount(p)).toBe('2/3');
  });

  it('does not count a sidecar behind an init container that still runs', () => {
    p.status = {
      initContainerStatuses: [st('init', { ready: false }), st('proxy', { ready: true })],
      containerStatuses: [],
    };
    expect(podReadyCount(p)).toBe('0/3');
  });
});
