import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/log.js';
import { FileSource, type FileSnapshot } from '../../agent/sources/file.js';
import { must } from '../support/common.js';

const pod = (name: string, image = 'localhost/bosun/busybox:1') =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n    - name: c\n      image: ${image}\n`;

describe('static manifest directory', () => {
  let dir: string;
  let last: FileSnapshot;
  let source: FileSource;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bosun-src-'));
    source = new FileSource(dir, 'node1', silentLogger, (s) => (last = s), 60_000);
  });
  afterEach(() => {
    source.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const names = () => last.pods.map((p) => p.metadata.name).sort();

  it('reads .yaml, .yml and .json, several documents per file, and nothing else', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('a') + '---\n' + pod('b'));
    writeFileSync(join(dir, 'c.yml'), pod('c'));
    writeFileSync(join(dir, 'd.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'd' }, spec: { containers: [{ name: 'c', image: 'x:1' }] } }));
    writeFileSync(join(dir, '.kubelet-keep'), '');
    writeFileSync(join(dir, '.e.yaml'), pod('hidden'));
    writeFileSync(join(dir, 'f.yaml.swp'), pod('swap'));
    writeFileSync(join(dir, 'g.yaml~'), pod('tilde'));
    writeFileSync(join(dir, 'h.bak'), pod('bak'));
    await source.start();
    expect(names()).toEqual(['a-node1', 'b-node1', 'c-node1', 'd-node1']);
    expect(last.problems).toEqual([]);
    const a = last.pods.find((p) => p.metadata.name === 'a-node1')!;
    expect(a.metadata.namespace).toBe('default');
    expect(a.spec.nodeName).toBe('node1');
    expect(a.metadata.annotations).toMatchObject({ 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.hash': a.metadata.uid });
  });

  it('gives a pod a new UID when any part of its spec changes, and keeps it when nothing does', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('a'));
    await source.start();
    const uid = must(last.pods[0], 'a pod').metadata.uid;
    writeFileSync(join(dir, 'a.yaml'), `# a comment\n${pod('a')}`);
    await source.scan();
    expect(must(last.pods[0], 'a pod').metadata.uid).toBe(uid);
    writeFileSync(join(dir, 'a.yaml'), pod('a', 'localhost/bosun/busybox:2'));
    await source.scan();
    expect(must(last.pods[0], 'a pod').metadata.uid).not.toBe(uid);
  });

  it('keeps the last valid version of a file that turns invalid, and reports why', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('a'));
    writeFileSync(join(dir, 'b.yaml'), pod('b'));
    await source.start();
    const uid = last.pods.find((p) => p.metadata.name === 'a-node1')!.metadata.uid;
    writeFileSync(join(dir, 'a.yaml'), pod('a').replace('image:', 'imagee:'));
    await source.scan();
    expect(names()).toEqual(['a-node1', 'b-node1']);
    expect(last.pods.find((p) => p.metadata.name === 'a-node1')!.metadata.uid).toBe(uid);
    expect(must(last.problems[0], 'a problem').messages).toEqual(expect.arrayContaining([
      `${join(dir, 'a.yaml')}: Pod "a": unknown field "spec.containers[0].imagee"`,
    ]));
  });

  it('ignores a new invalid file whole, even its valid documents', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('ok') + '---\n' + 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  restartPolicy: Nerver\n  containers: []\n');
    await source.start();
    expect(names()).toEqual([]);
    expect(must(last.problems[0], 'a problem').messages.join('\n')).toContain('spec.restartPolicy: Unsupported value: "Nerver"');
  });

  it('holds the pods named by a file that was never valid, and only those', async () => {
    // As after an upgrade whose validation is stricter: the file names its pods all the same.
    writeFileSync(join(dir, 'a.yaml'), pod('kept') + '---\n' + 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: kube-system\nspec:\n  restartPolicy: Nerver\n  containers: []\n');
    writeFileSync(join(dir, 'b.yaml'), pod('fine'));
    await source.start();
    expect(names()).toEqual(['fine-node1']);
    expect(last.held.map((h) => `${h.namespace}/${h.name}`)).toEqual(['default/kept-node1', 'kube-system/bad-node1']);
    expect(must(last.held[0], 'a held pod').source).toBe(join(dir, 'a.yaml'));
    expect(must(last.held[0], 'a held pod').messages.join('\n')).toContain('spec.restartPolicy: Unsupported value: "Nerver"');
    // Fixed: the pods are given, nothing is held.
    writeFileSync(join(dir, 'a.yaml'), pod('kept'));
    await source.scan();
    expect(names()).toEqual(['fine-node1', 'kept-node1']);
    expect(last.held).toEqual([]);
    // Broken again after a valid version: the last valid version stays, nothing is held.
    writeFileSync(join(dir, 'a.yaml'), pod('kept').replace('image:', 'imagee:'));
    await source.scan();
    expect(names()).toEqual(['fine-node1', 'kept-node1']);
    expect(last.held).toEqual([]);
  });

  it('reports a YAML syntax error with the file name', async () => {
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n');
    await source.start();
    expect(must(last.problems[0], 'a problem').messages[0]).toContain(join(dir, 'a.yaml'));
  });

  it('runs a pod defined twice only once and names both files', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('same'));
    writeFileSync(join(dir, 'b.yaml'), pod('same'));
    await source.start();
    expect(names()).toEqual(['same-node1']);
    expect(must(last.problems[0], 'a problem').messages[0]).toContain('also defined in');
  });

  it('starts a new valid file on its watch event; edits, removals and unfinished files wait until the directory is quiet', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('a'));
    writeFileSync(join(dir, 'gone.yaml'), pod('gone'));
    const updates: string[][] = [];
    // The full pass waits for 1 h of quiet here: whatever this test sees came from the quick pass.
    const watched = new FileSource(dir, 'node1', silentLogger, (snap) => updates.push(snap.pods.map((p) => p.metadata.name).sort()), 3_600_000, 3_600_000);
    await watched.start();
    try {
      expect(updates).toEqual([['a-node1', 'gone-node1']]);
      const until = async (what: () => boolean) => {
        for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
      };
      // Not started: an empty new file, a half-written one, an edit of a known file, a removal.
      writeFileSync(join(dir, 'empty.yaml'), '');
      writeFileSync(join(dir, 'half.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: half\nspec:\n  containers:\n    - name: c\n      ima');
      writeFileSync(join(dir, 'a.yaml'), pod('a', 'localhost/bosun/busybox:2'));
      rmSync(join(dir, 'gone.yaml'));
      // Started at once: a new file that reads valid.
      writeFileSync(join(dir, 'b.yaml'), pod('b'));
      await until(() => updates.some((u) => u.includes('b-node1')));
      expect(updates.at(-1)).toEqual(['a-node1', 'b-node1', 'gone-node1']);
      const a = () => watched.files().find((f) => f.file.endsWith('a.yaml'))!.pods[0]!.spec.containers[0]!.image;
      expect(a()).toBe('localhost/bosun/busybox:1');
      // The full pass (here: the periodic re-list, called by hand) applies the rest.
      await watched.scan();
      expect(updates.at(-1)).toEqual(['a-node1', 'b-node1']);
      expect(a()).toBe('localhost/bosun/busybox:2');
    } finally {
      watched.stop();
    }
  });

  it('drops the pods of a deleted file', async () => {
    writeFileSync(join(dir, 'a.yaml'), pod('a'));
    await source.start();
    rmSync(join(dir, 'a.yaml'));
    await source.scan();
    expect(names()).toEqual([]);
  });
});
