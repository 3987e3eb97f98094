import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, loadConfigFile, resolveConfig } from '../../agent/config.js';
import type { Setting } from '../../agent/settings/index.js';
import { defaultConfigFile, duration, fileValue, FILE_KEYS, FLAGS, formatDuration, RELOADABLE, SETTINGS, settingText, showValue, withReadmeSection } from '../../agent/settings/index.js';
import { bool, headerFlag, int, ipList, oneOf, port, stringMap, taints } from '../../agent/settings/parse.js';

// The settings table (agent/settings/table.ts) is the one definition of every setting: the
// files made from it must be current, every command's --help must come from it, and the
// names scripts and tests use must not move.

const all = SETTINGS as readonly Setting[];
const dir = mkdtempSync(join(tmpdir(), 'bosun-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The flags and config keys before the table: renaming one would break installed configs and scripts. */
const KEPT_FLAGS = `address allowed-unsafe-sysctls authentication-token-webhook authorization-mode cgroup-driver cgroup-root cgroups-per-qos client-ca-file
  cluster-dns cluster-domain container-log-max-files container-log-max-size container-runtime-endpoint containerd-registry-config-path cpu-cfs-quota
  eviction-hard eviction-max-pod-grace-period eviction-monitoring-period eviction-pressure-transition-period eviction-soft eviction-soft-grace-period
  file-check-frequency healthz-bind-address healthz-port hostname-override http-check-frequency image-credential-provider-bin-dir
  image-credential-provider-config image-gc-high-threshold image-gc-low-threshold image-pull-offline-fallback iptables-backend kube-reserved kubeconfig
  log-format log-level manifest-url manifest-url-header max-parallel-image-pulls max-pods minimum-image-ttl-duration node-ip node-labels node-name
  pod-bridge pod-cidr pod-infra-container-image pod-manifest-path pod-max-pids port proxy-mode read-only-address read-only-port register-with-taints
  resolv-conf root-dir serialize-image-pulls service-cluster-ip-range sync-frequency system-reserved tls-cert-file tls-private-key-file token-auth-file`.split(/\s+/);
const KEPT_KEYS = `address allowedUnsafeSysctls authentication authorization cgroupDriver cgroupRoot cgroupsPerQOS clusterDNS clusterDomain containerLogMaxFiles
  containerLogMaxSize containerLogsDir containerRuntimeEndpoint containerdRegistryConfigPath cpuCFSQuota evictionHard evictionMaxPodGracePeriod
  evictionMonitoringPeriod evictionPressureTransitionPeriod evictionSoft evictionSoftGracePeriod fileCheckFrequency healthzBindAddress healthzPort
  httpCheckFrequency imageCredentialProviderBinDir imageCredentialProviderConfig imageGCHighThresholdPercent imageGCLowThresholdPercent imageGCPeriod
  imageMinimumGCAge imagePullOfflineFallback iptablesBackend kubeReserved logFormat logLevel maxParallelImagePulls maxPods nodeIP nodeLabels nodeName
  podBridge podCIDR podInfraContainerImage podLogsDir podPidsLimit port proxyMode readOnlyAddress readOnlyPort registerWithTaints registryMirrors
  resolvConf rootDir seccompDefault serializeImagePulls serviceCIDR staticPodPath staticPodURL staticPodURLHeader syncFrequency systemReserved
  tlsCertFile tlsPrivateKeyFile`.split(/\s+/);

describe('the settings table', () => {
  it('keeps every flag and config key there was, and names each field, flag and key once', () => {
    for (const f of KEPT_FLAGS) expect(FLAGS[f], `--${f}`).toBeDefined();
    for (const k of KEPT_KEYS) expect(FILE_KEYS[k], k).toBeDefined();
    const fields = all.map((s) => s.field);
    const flags = all.flatMap((s) => [s.flag, ...(s.aliases ?? [])].filter(Boolean));
    const keys = all.map((s) => s.key).filter(Boolean);
    expect(new Set(fields).size).toBe(fields.length);
    expect(new Set(flags).size).toBe(flags.length);
    expect(new Set(keys).size).toBe(keys.length);
    for (const s of all) expect(s.flag || s.key, s.field).toBeTruthy();
  });

  it('makes the defaults, and every default reads back through its own flag and config-file parsers', () => {
    for (const s of all) {
      if (s.optional) {
        expect(s.field in DEFAULTS, s.field).toBe(false);
        continue;
      }
      expect(DEFAULTS[s.field as keyof typeof DEFAULTS], s.field).toEqual(s.default);
      if (s.defaultText) continue; // depends on the host
      const shown = showValue(s, s.default);
      if (s.flag && shown !== '') expect(s.parse(shown, `--${s.flag}`), `--${s.flag} ${shown}`).toEqual(s.default);
      if (s.key) expect((s.parseFile ?? s.parse)(fileValue(s, s.default), s.key), s.key).toEqual(s.default);
    }
  });

  it('marks as reloadable only settings the config file can change', () => {
    expect([...RELOADABLE].sort()).toEqual(['fileCheckFrequencyMs', 'httpCheckFrequencyMs', 'logLevel', 'syncFrequencyMs']);
    for (const s of all.filter((x) => x.reload)) expect(s.key, s.field).toBeTruthy();
  });
});

describe('files made from the table', () => {
  it('README.md has the current settings section (npm run gen:settings)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(withReadmeSection(readme) === readme, 'README.md is stale: run npm run gen:settings').toBe(true);
    for (const s of all) {
      if (s.key) expect(readme).toContain(`| \`${s.key}\` |`);
      if (s.flag) expect(readme).toContain(`\`--${s.flag}\``);
    }
  });

  it('scripts/config.yaml is current, lists every key, and each commented default is the real one', () => {
    const text = readFileSync('scripts/config.yaml', 'utf8');
    expect(text === defaultConfigFile(), 'scripts/config.yaml is stale: run npm run gen:settings').toBe(true);
    const f = join(dir, 'all.yaml');
    writeFileSync(f, text);
    expect(loadConfigFile(f)).toEqual({});
    const lines = [...text.matchAll(/^# ([a-zA-Z]+):(?: (.+))?$/gm)];
    expect(lines.map((m) => m[1]).sort()).toEqual(all.filter((s) => s.key).map((s) => s.key).sort());
    for (const [, key, value] of lines) {
      const s = FILE_KEYS[key!]!;
      if (value === undefined) {
        // Unset, or depends on the host: the comment above says what it is.
        expect(s.optional || s.defaultText, key).toBeTruthy();
        continue;
      }
      writeFileSync(f, `${key}: ${value}\n`);
      expect(loadConfigFile(f), key).toEqual({ [s.field]: DEFAULTS[s.field as keyof typeof DEFAULTS] });
    }
  });
});

describe('--help of every command', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, [resolve('dist/agent/cli.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
  const flat = (s: string) => s.replace(/\s+/g, ' ');
  const commands = ['run', 'get', 'logs', 'kubeconfig', 'doctor', 'drain', 'uncordon', 'proxy', 'version'];

  it('bosun --help names every command', () => {
    for (const h of ['--help', '-h', 'help']) {
      const r = cli(h);
      expect(r.status, h).toBe(0);
      for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
  });

  it.each(commands)('bosun %s -h and --help print its usage and exit 0', (c) => {
    for (const h of ['-h', '--help']) {
      const r = cli(c, h);
      expect(r.stderr, `${c} ${h}`).toBe('');
      expect(r.status, `${c} ${h}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage:\\n  bosun ${c}\\b`));
      expect(r.stdout).toContain('-h, --help');
    }
  });

  it('bosun help COMMAND is COMMAND --help', () => {
    expect(cli('help', 'run').stdout).toBe(cli('run', '--help').stdout);
  });

  it.each(['run', 'doctor', 'kubeconfig'])('bosun %s --help lists every setting with its default, config key and reload, as the table says', (c) => {
    const help = flat(cli(c, '--help').stdout);
    for (const s of all) {
      if (s.flag) expect(help, s.field).toContain(`--${s.flag}`);
      expect(help, s.field).toContain(flat(settingText(s)));
    }
  });

  it('lists only the settings a command takes, and refuses the others by name', () => {
    const proxy = flat(cli('proxy', '--help').stdout);
    expect(proxy).toContain('--service-cluster-ip-range CIDR');
    expect(proxy).toContain('--pod-cidr CIDR');
    expect(proxy).not.toContain('--root-dir');
    const r = cli('drain', '--pod-cidr', '10.0.0.0/8');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Unknown option '--pod-cidr'");
  });

  it('names the flag and the value of a bad flag', () => {
    const r = cli('run', '--sync-frequency', 'soon');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('bosun: --sync-frequency: Invalid value: "soon": a duration like "20s", "1m" or "500ms"\n');
  });
});

describe('parsers', () => {
  it('durations: Go syntax both ways', () => {
    expect(duration('1m30s', 'x')).toBe(90_000);
    expect(duration('1h0m0s', 'x')).toBe(3_600_000);
    expect(duration(3, 'x')).toBe(3000);
    for (const ms of [0, 500, 1000, 20_000, 90_000, 300_000, 3_600_000, 5_430_500]) expect(duration(formatDuration(ms), 'x')).toBe(ms);
    expect(formatDuration(300_000)).toBe('5m0s');
    expect(() => duration('20', '--sync-frequency')).toThrow('--sync-frequency: Invalid value: "20": a duration');
    expect(() => duration('1d', 'f.yaml: syncFrequency')).toThrow('f.yaml: syncFrequency: Invalid value: "1d"');
  });

  it('booleans, integers, ports and enums say what they accept', () => {
    expect(bool('true', 'x')).toBe(true);
    expect(bool(false, 'x')).toBe(false);
    expect(() => bool('yes', '--cpu-cfs-quota')).toThrow('--cpu-cfs-quota: Invalid value: "yes": must be true or false');
    expect(int(-1)('-1', 'x')).toBe(-1);
    expect(() => int(0, 100)('101', '--image-gc-high-threshold')).toThrow('--image-gc-high-threshold: Invalid value: "101": must be an integer from 0 to 100');
    expect(() => int(1)('', '--max-pods')).toThrow('--max-pods: Invalid value: ""');
    expect(port('0', 'x')).toBe(0);
    expect(() => port('', '--port')).toThrow('--port: Invalid value: ""');
    expect(() => port('65536', '--port')).toThrow('must be a port number');
    expect(oneOf(['a', 'b'])('a', 'x')).toBe('a');
    expect(() => oneOf(['a', 'b'])('c', '--mode')).toThrow('--mode: Unsupported value: "c": supported values: "a", "b"');
  });

  it('lists and maps: flag syntax and file syntax', () => {
    expect(ipList('10.96.0.10, 10.96.0.11', 'x')).toEqual(['10.96.0.10', '10.96.0.11']);
    expect(() => ipList(['dns'], '--cluster-dns')).toThrow('--cluster-dns: Invalid value: "dns": must be an IP address');
    expect(stringMap('a=1, b=2', 'x')).toEqual({ a: '1', b: '2' });
    expect(stringMap({ a: 1 }, 'x')).toEqual({ a: '1' });
    expect(() => stringMap('a', '--node-labels')).toThrow('--node-labels: Invalid value: "a": expected key=value');
    expect(() => stringMap([1], 'f: nodeLabels')).toThrow('f: nodeLabels: Invalid value: expected a map');
    expect(headerFlag('a:x,b:y', 'x')).toEqual({ a: 'x', b: 'y' });
    expect(() => headerFlag('a', '--manifest-url-header')).toThrow('--manifest-url-header: Invalid value: "a": expected key:value');
    expect(taints('k=v:NoSchedule,k2:NoExecute', 'x')).toEqual([{ key: 'k', value: 'v', effect: 'NoSchedule' }, { key: 'k2', effect: 'NoExecute' }]);
    expect(() => taints([{ key: 'k', effect: 'Never' }], 'f: registerWithTaints')).toThrow('f: registerWithTaints[0].effect: Unsupported value: "Never"');
  });

  it('a bad config-file value names the file, the key and the value; an alias is the same setting', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'syncFrequency: soon\n');
    expect(() => resolveConfig({}, f)).toThrow(`${f}: syncFrequency: Invalid value: "soon"`);
    writeFileSync(f, 'authorization: {mode: Sometimes}\n');
    expect(() => resolveConfig({}, f)).toThrow(`${f}: authorization.mode: Unsupported value: "Sometimes"`);
    writeFileSync(f, 'staticPodURLHeader: {Authorization: [Bearer x]}\nauthentication: {x509: {clientCAFile: /ca.crt}}\n');
    expect(resolveConfig({}, f)).toMatchObject({ manifestURLHeader: { Authorization: 'Bearer x' }, clientCAFile: '/ca.crt' });
    expect(resolveConfig({ 'hostname-override': 'Other' }).nodeName).toBe('other');
  });
});
