import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifests, validateParsed } from '../../manifests/index.js';

const SRC = '/etc/kubernetes/manifests/web.yaml';

describe('parseManifests', () => {
  it('reads every document of a multi-document file and skips empty ones', () => {
    const text = `---
apiVersion: v1
kind: Pod
metadata: {name: a}
---
# nothing but a comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: b
data:
  k: v
---
`;
    const r = parseManifests(text, SRC);
    expect(r.errors).toEqual([]);
    expect(r.objects.map((o) => [o.object.kind, o.object.metadata?.name, o.index, o.source])).toEqual([
      ['Pod', 'a', 0, SRC],
      ['ConfigMap', 'b', 2, SRC],
    ]);
  });

  it('expands List and *List documents into their items', () => {
    const text = `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: a}}
- {apiVersion: v1, kind: Service, metadata: {name: b}}
---
apiVersion: v1
kind: PodList
metadata: {}
items:
- {apiVersion: v1, kind: Pod, metadata: {name: c}}
`;
    const r = parseManifests(text, SRC);
    expect(r.errors).toEqual([]);
    expect(r.objects.map((o) => [o.object.metadata?.name, o.index, o.item])).toEqual([
      ['a', 0, 0], ['b', 0, 1], ['c', 1, 0],
    ]);
  });

  it('names the file and document of bad YAML and keeps the good documents', () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: good}
---
apiVersion: v1
kind: Pod
metadata:
  name: bad
    labels: x
`;
    const r = parseManifests(text, SRC);
    expect(r.objects.map((o) => o.object.metadata?.name)).toEqual(['good']);
    expect(r.errors).toHaveLength(1);
    const e = r.errors[0]!;
    expect(e).toBeInstanceOf(ManifestError);
    expect(e).toBeInstanceOf(Error);
    expect(e.source).toBe(SRC);
    expect(e.documentIndex).toBe(1);
    expect(e.message).toMatch(/^\/etc\/kubernetes\/manifests\/web\.yaml: document 2: yaml: line 8, column \d+: /);
  });

  it('rejects duplicate keys, as strict decoding does', () => {
    const r = parseManifests('apiVersion: v1\nkind: Pod\nkind: Pod\n', SRC);
    expect(r.errors[0]!.message).toContain('document 1: yaml: line 3');
  });

  it('requires a mapping with apiVersion and kind', () => {
    const r = parseManifests('- a\n- b\n---\nkind: Pod\nmetadata: {name: web}\n---\napiVersion: v1\nmetadata: {name: x}\n', SRC);
    expect(r.objects).toEqual([]);
    expect(r.errors.map((e) => e.message)).toEqual([
      `${SRC}: document 1: line 1, column 1: the document must be a mapping with apiVersion and kind, not a sequence`,
      `${SRC}: Pod "web": apiVersion: Required value`,
      `${SRC}: document 3: kind: Required value`,
    ]);
    expect(r.errors[1]).toMatchObject({ kind: 'Pod', objectName: 'web', field: 'apiVersion', documentIndex: 1 });
  });

  it('reports List items without kind by their index', () => {
    const r = parseManifests('apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, metadata: {name: a}}\n', SRC);
    expect(r.errors.map((e) => e.message)).toEqual([`${SRC}: document 1: items[0].kind: Required value`]);
  });

  it('reads JSON, and points at the line and column of a JSON syntax error', () => {
    const ok = parseManifests('{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"}}', '/m/j.json');
    expect(ok.objects[0]!.object.metadata?.name).toBe('j');
    const bad = parseManifests('{\n  "apiVersion": "v1",\n  "kind": "Pod",,\n}\n', '/m/j.json');
    expect(bad.objects).toEqual([]);
    expect(bad.errors[0]!.message).toMatch(/^\/m\/j\.json: document 1: invalid JSON: line 3, column 17: Expected double-quoted property name$/);
  });

  it('decodes YAML as Kubernetes does (YAML 1.1 octal and booleans, timestamps as strings)', () => {
    const r = parseManifests('apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  creationTimestamp: 2024-01-02T03:04:05Z\nx: {mode: 0644, b: yes, t: 1:20}\n', SRC);
    expect(r.objects[0]!.object.x).toEqual({ mode: 420, b: true, t: '1:20' });
    expect(r.objects[0]!.object.metadata?.creationTimestamp).toBe('2024-01-02T03:04:05Z');
  });

  it('reads a plain scalar as a float only where Go reads a number (a lone `.` is a string)', () => {
    const r = parseManifests('apiVersion: v1\nkind: Pod\nspec:\n  dnsConfig:\n    searches: [., -., .e3, +.]\nx: [.5, 1., 1_000.5, 1e3, .inf, -.Inf, .nan]\n', SRC);
    expect(r.errors).toEqual([]);
    const o = r.objects[0]!.object as Record<string, any>;
    expect(o.spec.dnsConfig.searches).toEqual(['.', '-.', '.e3', '+.']);
    expect(o.x.slice(0, 6)).toEqual([0.5, 1, 1000.5, 1000, Infinity, -Infinity]);
    expect(Number.isNaN(o.x[6])).toBe(true);
  });

  it('turns validation errors into messages naming the file and the object', () => {
    const r = parseManifests('apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n', SRC);
    expect(validateParsed(r.objects[0]!).map((e) => e.message)).toEqual([
      '/etc/kubernetes/manifests/web.yaml: Pod "web": spec.containers[0].image: Required value',
    ]);
    const unknown = parseManifests('apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeSelceter: {}\n  containers: [{name: web, image: busybox}]\n', SRC);
    const [e] = validateParsed(unknown.objects[0]!);
    expect(e!.message).toBe(`${SRC}: Pod "web": unknown field "spec.nodeSelceter"`);
    expect(e).toMatchObject({ field: 'spec.nodeSelceter', kind: 'Pod', objectName: 'web' });
  });
});
