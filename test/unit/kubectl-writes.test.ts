import { describe, expect, it } from 'vitest';
import { coreV1Document, openAPIIndex } from '../../agent/server/openapi.js';
import { mergePatch, PatchError, strategicMergePatch } from '../../agent/server/patch.js';
import { ChangeFeed, type Served } from '../../agent/server/watch.js';
import { badPathNames, invalid, managedFileName, ownerOf, toStored } from '../../agent/server/writes.js';
import type { SourceFile } from '../../agent/sources/file.js';
import type { Pod } from '../../manifests/index.js';

// The pure parts of kubectl's writes on a standalone node: patches, ownership, the 422, the
// change feed behind watches, and the OpenAPI document kubectl computes patches from.

describe('strategic merge patch (upstream patchStrategy/patchMergeKey)', () => {
  const pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: '1', b: '2' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'a', image: 'i1', env: [{ name: 'X', value: '1' }, { name: 'Y', value: '2' }], ports: [{ containerPort: 80 }] },
        { name: 'b', image: 'i2' },
      ],
      volumes: [{ name: 'v', emptyDir: {} }],
      tolerations: [{ key: 'k', operator: 'Exists' }],
    },
  };

  it('merges containers by name and env by name; null deletes a key', () => {
    const out = strategicMergePatch(pod, { metadata: { labels: { b: null, c: '3' } }, spec: { containers: [{ name: 'a', env: [{ name: 'X', value: '9' }] }] } }, 'Pod') as typeof pod;
    expect(out.metadata.labels).toEqual({ a: '1', c: '3' });
    expect(out.spec.containers).toHaveLength(2);
    expect(out.spec.containers[0]!.env).toEqual([{ name: 'X', value: '9' }, { name: 'Y', value: '2' }]);
    expect(out.spec.containers[0]!.image).toBe('i1');
  });

  it('lists without a strategy are replaced; $patch: delete removes an element; $patch: replace a whole list', () => {
    const out = strategicMergePatch(pod, { spec: { tolerations: [{ key: 'n', operator: 'Exists' }], containers: [{ name: 'b', $patch: 'delete' }] } }, 'Pod') as typeof pod;
    expect(out.spec.tolerations).toEqual([{ key: 'n', operator: 'Exists' }]);
    expect(out.spec.containers.map((c) => c.name)).toEqual(['a']);
    const rep = strategicMergePatch(pod, { spec: { containers: [{ name: 'z', image: 'z' }, { $patch: 'replace' }] } }, 'Pod') as typeof pod;
    expect(rep.spec.containers).toEqual([{ name: 'z', image: 'z' }]);
  });

  it('$setElementOrder, $deleteFromPrimitiveList, $retainKeys (volumes), and a new element without directives', () => {
    const out = strategicMergePatch(pod, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] },
      spec: {
        '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }, { name: 'c' }],
        containers: [{ name: 'c', image: 'i3', env: [{ name: 'Z', value: '1', $patch: 'merge' }] }],
        volumes: [{ name: 'v', hostPath: { path: '/x' }, $retainKeys: ['name', 'hostPath'] }],
      },
    }, 'Pod') as typeof pod & { spec: { volumes: unknown[] } };
    expect(out.metadata.finalizers).toEqual([]);
    expect(out.spec.containers.map((c) => c.name)).toEqual(['b', 'a', 'c']);
    expect(out.spec.containers[2]).toEqual({ name: 'c', image: 'i3', env: [{ name: 'Z', value: '1' }] });
    expect(out.spec.volumes).toEqual([{ name: 'v', hostPath: { path: '/x' } }]);
  });

  it('refuses what it cannot apply, and the input is never changed', () => {
    const before = JSON.stringify(pod);
    expect(() => strategicMergePatch(pod, { spec: { containers: [{ image: 'no-name' }] } }, 'Pod')).toThrow(/merge key: name/);
    expect(() => strategicMergePatch(pod, { $bogus: 1 }, 'Pod')).toThrow(PatchError);
    expect(() => strategicMergePatch(pod, [1], 'Pod')).toThrow(PatchError);
    expect(JSON.stringify(pod)).toBe(before);
  });

  it('Service ports merge by port; JSON merge patch replaces lists', () => {
    const svc = { kind: 'Service', spec: { ports: [{ port: 80, name: 'http' }, { port: 443, name: 'https' }] } };
    expect((strategicMergePatch(svc, { spec: { ports: [{ port: 80, targetPort: 8080 }] } }, 'Service') as typeof svc).spec.ports).toEqual([{ port: 80, name: 'http', targetPort: 8080 }, { port: 443, name: 'https' }]);
    expect(mergePatch(svc, { spec: { ports: [{ port: 1 }] }, kind: null })).toEqual({ spec: { ports: [{ port: 1 }] } });
  });
});

describe('who owns an object, and where kubectl writes it', () => {
  const files: SourceFile[] = [
    { file: '/m/hand.yaml', managed: false, pods: [{ metadata: { name: 'web-node1', namespace: 'default' } } as Pod], objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } }] },
    { file: '/m/kubectl/configmap_ns_cm.yaml', managed: true, pods: [], objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'ns' } }] },
  ];

  it('finds pods by the name they run under and objects by kind, namespace (default) and name', () => {
    expect(ownerOf(files, 'Pod', 'default', 'web-node1')).toEqual({ file: '/m/hand.yaml', managed: false });
    expect(ownerOf(files, 'Pod', 'default', 'web')).toBeUndefined();
    expect(ownerOf(files, 'ConfigMap', 'default', 'cm')).toEqual({ file: '/m/hand.yaml', managed: false });
    expect(ownerOf(files, 'ConfigMap', 'ns', 'cm')).toEqual({ file: '/m/kubectl/configmap_ns_cm.yaml', managed: true });
    expect(ownerOf(files, 'Secret', 'ns', 'cm')).toBeUndefined();
  });

  it('file names are readable, and hashed when a 253-character name would not fit', () => {
    expect(managedFileName('Pod', 'default', 'web')).toBe('pod_default_web.yaml');
    const long = managedFileName('ConfigMap', 'a'.repeat(63), 'b'.repeat(253));
    expect(long.length).toBeLessThan(255);
    expect(long).toMatch(/^configmap_a+_[0-9a-f]{32}\.yaml$/);
  });

  it('path names are checked with upstream\'s rules before use', () => {
    expect(badPathNames('Pod', 'default', 'web')).toEqual([]);
    expect(badPathNames('Pod', 'default', '../etc')).not.toEqual([]);
    expect(badPathNames('Pod', 'Bad_NS')).not.toEqual([]);
    expect(badPathNames('Service', 'default', 'a.b')).not.toEqual([]); // a DNS-1035 label
  });

  it('stores without server-set fields, keeps identity, folds stringData', () => {
    const s = toStored({ kind: 'Secret', metadata: { name: 's', resourceVersion: '9', uid: 'x', managedFields: [], annotations: { 'kubernetes.io/config.hash': 'h' } }, stringData: { p: 'v' }, data: { q: 'dw==' }, status: {} }, 'ns', { uid: 'u1', creationTimestamp: 't' });
    expect(s).toEqual({ kind: 'Secret', metadata: { name: 's', namespace: 'ns', uid: 'u1', creationTimestamp: 't' }, data: { q: 'dw==', p: 'dg==' } });
  });

  it('a 422 reads like the API server\'s, one cause per field', () => {
    const st = invalid('Pod', 'p', [{ field: 'spec.containers[0].image', type: 'Required value' }, { field: 'spec.restartPolicy', type: 'Unsupported value', value: 'X', detail: 'supported values: "Always"' }]);
    expect(st).toMatchObject({ code: 422, reason: 'Invalid', message: 'Pod "p" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: Unsupported value: "X": supported values: "Always"]' });
    expect(st.details?.causes).toEqual([
      { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image' },
      { reason: 'FieldValueNotSupported', message: 'Unsupported value: "X": supported values: "Always"', field: 'spec.restartPolicy' },
    ]);
  });
});

describe('the change feed behind watches', () => {
  it('numbers changes from one counter and tells watchers ADDED, MODIFIED, DELETED; remembers deletions', async () => {
    let objs: Served[] = [{ metadata: { name: 'a', namespace: 'd' } }];
    const feed = new ChangeFeed(async () => objs, 1_000_000);
    const first = await feed.sync('pods');
    expect(first.items[0]!.metadata.resourceVersion).toBe('2');
    const seen: string[] = [];
    const off = feed.subscribe('pods', (c) => seen.push(`${c.type} ${c.object.metadata.name} ${c.rv}`));
    await feed.sync('pods');
    expect(seen).toEqual([]);
    objs = [{ metadata: { name: 'a', namespace: 'd', labels: { x: '1' } } }, { metadata: { name: 'b', namespace: 'd' } }];
    await feed.sync('pods');
    objs = [{ metadata: { name: 'b', namespace: 'd' } }];
    const last = await feed.sync('pods');
    expect(seen).toEqual(['MODIFIED a 3', 'ADDED b 4', 'DELETED a 5']);
    expect(last.rv).toBe('5');
    expect(feed.since('pods', 3).map((c) => `${c.type} ${c.object.metadata.name}`)).toEqual(['MODIFIED b', 'DELETED a']);
    off();
    expect(feed.watchers).toBe(0);
    feed.stop();
  });
});

describe('the OpenAPI v3 documents', () => {
  const doc = coreV1Document() as { paths: Record<string, { patch?: { parameters: { name: string }[]; requestBody: { content: Record<string, unknown> }; 'x-kubernetes-group-version-kind': unknown } }>; components: { schemas: Record<string, { properties: Record<string, { properties: Record<string, Record<string, unknown> & { items?: { properties: Record<string, Record<string, unknown>> } }> }>; 'x-kubernetes-group-version-kind': unknown }> } };

  it('names the core/v1 document by hash, and says the PATCH of each kind takes fieldValidation and strategic merge', () => {
    expect((openAPIIndex() as { paths: Record<string, { serverRelativeURL: string }> }).paths['api/v1']!.serverRelativeURL).toMatch(/^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]+$/);
    for (const [resource, kind] of [['pods', 'Pod'], ['configmaps', 'ConfigMap'], ['secrets', 'Secret'], ['services', 'Service']]) {
      const patch = doc.paths[`/api/v1/namespaces/{namespace}/${resource}/{name}`]!.patch!;
      expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: '', version: 'v1', kind });
      expect(patch.parameters.map((p) => p.name)).toContain('fieldValidation');
      expect(Object.keys(patch.requestBody.content)).toContain('application/strategic-merge-patch+json');
      expect(doc.components.schemas[`io.k8s.api.core.v1.${kind}`]!['x-kubernetes-group-version-kind']).toEqual([{ group: '', version: 'v1', kind }]);
    }
  });

  it('carries upstream\'s patch strategies and merge keys on the fields', () => {
    const spec = doc.components.schemas['io.k8s.api.core.v1.Pod']!.properties.spec!.properties;
    expect(spec.containers).toMatchObject({ 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' });
    expect(spec.volumes).toMatchObject({ 'x-kubernetes-patch-strategy': 'merge,retainKeys', 'x-kubernetes-patch-merge-key': 'name' });
    expect(spec.containers!.items!.properties.env).toMatchObject({ 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'name' });
    expect(spec.containers!.items!.properties.ports).toMatchObject({ 'x-kubernetes-patch-merge-key': 'containerPort' });
    expect(spec.tolerations!['x-kubernetes-patch-strategy']).toBeUndefined();
    const svc = doc.components.schemas['io.k8s.api.core.v1.Service']!.properties.spec!.properties;
    expect(svc.ports).toMatchObject({ 'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'port' });
  });
});

describe('the files kubectl writes', () => {
  it('read back as the same object under YAML 1.1 scalars (yes, on, 0644 stay strings)', async () => {
    const { manifestText } = await import('../../agent/server/writes.js');
    const { parseManifests } = await import('../../manifests/index.js');
    const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'yes', b: 'on', c: '0644', d: '1.0', e: 'null', f: '2026-01-01' } };
    const text = manifestText(obj);
    expect(parseManifests(text, 'x').objects[0]!.object).toEqual(obj);
  });
});
