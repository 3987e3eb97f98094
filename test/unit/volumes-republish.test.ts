import { describe, expect, it } from 'vitest';
import { preparedKey } from '../../agent/pods/prepare.js';
import type { Pod } from '../../manifests/index.js';

// A running pod's published volumes are rebuilt when what they are made of changes. The
// downward API reads the pod's labels and annotations, which the API server lets change on a
// running pod: upstream's "Downward API volume should update labels/annotations on
// modification" failed when only a ConfigMap or Secret change (the store's generation)
// republished the files.
describe('when a pod volume files are published again', () => {
  const pod = (labels: Record<string, string>, annotations: Record<string, string> = {}, cpu = '1'): Pod => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u', labels, annotations },
    spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { cpu } } }] },
  }) as Pod;

  it('unchanged pod and objects: the same key (nothing rewritten)', () => {
    expect(preparedKey(3, pod({ a: '1' }))).toBe(preparedKey(3, pod({ a: '1' })));
  });

  it('a label, an annotation, a resized limit or a ConfigMap/Secret change: a new key', () => {
    const k = preparedKey(3, pod({ a: '1' }, { b: 'bar' }));
    expect(preparedKey(3, pod({ a: '1', key3: 'value3' }, { b: 'bar' }))).not.toBe(k);
    expect(preparedKey(3, pod({ a: '1' }, { b: 'foo' }))).not.toBe(k);
    expect(preparedKey(3, pod({ a: '1' }, { b: 'bar' }, '2'))).not.toBe(k);
    expect(preparedKey(4, pod({ a: '1' }, { b: 'bar' }))).not.toBe(k);
  });
});

describe('a subPath that does not exist yet', () => {
  it('is created with the volume root\'s mode, setgid and sticky included, whatever the umask', async () => {
    const { chmodSync, mkdtempSync, rmSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { resolveMount } = await import('../../agent/volumes/setup.js');
    const dir = mkdtempSync(join(tmpdir(), 'bosun-subpath-'));
    try {
      // An emptyDir on tmpfs with an fsGroup: 1777 from the kernel, setgid from the fsGroup.
      chmodSync(dir, 0o3777);
      const m = await resolveMount({ containerPath: '/test-volume', hostPath: '', readonly: false, subPath: 'test-sub/deeper', volumeRoot: dir });
      expect(m.hostPath).toBe(join(dir, 'test-sub', 'deeper'));
      expect(statSync(join(dir, 'test-sub')).mode & 0o7777).toBe(0o3777);
      expect(statSync(join(dir, 'test-sub', 'deeper')).mode & 0o7777).toBe(0o3777);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
