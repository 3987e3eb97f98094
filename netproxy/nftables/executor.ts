// Carries out what the nftables planner decided: one `nft -f` transaction per sync (the
// kernel applies it whole or not at all), the canary check, conntrack clean-up, and
// removal of the table. The dataplane keeps the last applied result for partial syncs.

import type { ConntrackDeletion } from '../conntrack.js';
import type { Dataplane, SyncStats } from '../dataplane.js';
import { runCommand, type Runner } from '../exec.js';
import type { ServicePortInfo } from '../ports.js';
import { IptablesExecutor } from '../iptables/executor.js';
import { DEFAULT_NFT_TABLE, type NftOptions, type NftRuleset, renderNftables, tableObjects } from './render.js';

/** Table names reach an nft command line: keep them to what nft's own names allow. */
export function validNftTable(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(name);
}

export class NftError extends Error {
  constructor(readonly stderr: string, readonly input: string) {
    super(`nft -f failed: ${stderr.slice(0, 2000)}${lineContext(stderr, input)}`);
    this.name = 'NftError';
  }
}

/** nft names the failing line of its input (`/dev/stdin:12:3-7: Error: ...`): quote it. */
function lineContext(stderr: string, input: string): string {
  const m = /:(\d+):\d+(?:-\d+)?: Error/.exec(stderr);
  if (!m) return '';
  const line = input.split('\n')[Number(m[1]) - 1];
  return line === undefined ? '' : ` (line ${m[1]}: ${line.slice(0, 300)})`;
}

export class NftExecutor {
  readonly table: string;

  constructor(private readonly run: Runner = runCommand, table = DEFAULT_NFT_TABLE) {
    if (!validNftTable(table)) throw new Error(`nftables table name ${JSON.stringify(table)}: letters, digits, - and _ only, starting with a letter`);
    this.table = table;
  }

  async apply(text: string): Promise<void> {
    if (text === '') return;
    const r = await this.run('nft', ['-f', '-'], { input: text, timeoutMs: 30 * 60_000 });
    if (r.exitCode !== 0) throw new NftError(r.stderr.trim(), text);
  }

  /** `chain X` / `set X` / `map X` in our table now; empty when there is no table. */
  async objects(): Promise<string[]> {
    // Not `nft -t list table`: nft 1.0.6 fetches every set element for it even with -t
    // (10k Services: 0.9 s of CPU). The family-wide lists of chains, sets and maps fetch
    // declarations only (0.00 s); our table's blocks are picked out of them.
    const r = await this.run('nft', ['-t', '-f', '-'], { input: 'list chains ip\nlist sets ip\nlist maps ip\n' });
    if (r.exitCode !== 0) throw new Error(`nft list chains/sets/maps ip: ${r.stderr.trim()}`);
    return tableObjects(r.stdout, this.table);
  }

  /** False when the table, its canary or the services dispatch is gone (flushed or deleted). */
  async healthy(): Promise<boolean> {
    // The canary through the family's chain list, which costs nothing; listing one chain
    // makes nft 1.0.6 fetch every set element of the table (10k Services: 0.9 s of CPU),
    // so that is done once, for the dispatch rule a `flush table` would have removed.
    const chains = await this.run('nft', ['list', 'chains', 'ip']);
    if (chains.exitCode !== 0 || !tableObjects(chains.stdout, this.table).includes('chain canary')) return false;
    const r = await this.run('nft', ['list', 'chain', 'ip', this.table, 'services']);
    return r.exitCode === 0 && r.stdout.includes('@service-ips');
  }

  /** Deletes the table (and so every rule, set and map of ours). Safe when absent. */
  async deleteTable(): Promise<void> {
    const r = await this.run('nft', ['delete', 'table', 'ip', this.table]);
    if (r.exitCode !== 0 && !/No such file or directory/.test(r.stderr)) throw new Error(`nft delete table ip ${this.table}: ${r.stderr.trim()}`);
  }
}

export class NftablesDataplane implements Dataplane {
  readonly name = 'nftables';
  readonly executor: NftExecutor;
  private readonly conntrack: IptablesExecutor;
  /** The last result the kernel accepted. */
  applied?: NftRuleset;

  constructor(private readonly opts: NftOptions = {}, run: Runner = runCommand) {
    this.executor = new NftExecutor(run, opts.table ?? DEFAULT_NFT_TABLE);
    this.conntrack = new IptablesExecutor(run);
  }

  async sync(ports: ServicePortInfo[], full: boolean): Promise<SyncStats> {
    let rs: NftRuleset;
    if (!full && this.applied) {
      rs = renderNftables(ports, this.opts, { previous: this.applied });
      // The render took over the previous state: after a failure only a full sync is sound.
      this.applied = undefined;
      await this.executor.apply(rs.text);
    } else {
      rs = renderNftables(ports, this.opts, { existing: await this.executor.objects() });
      try {
        await this.executor.apply(rs.text);
      } catch (err) {
        // A table left by another version may declare a set differently, which no `add`
        // can change: start from an empty table (affinity entries are lost then).
        if (!(err instanceof NftError) || !/File exists|Device or resource busy|Invalid argument/.test(err.stderr)) throw err;
        await this.executor.deleteTable();
        rs = renderNftables(ports, this.opts, { existing: [] });
        await this.executor.apply(rs.text);
      }
    }
    this.applied = rs;
    return { full: rs.full, lines: rs.lines, bytes: rs.bytes, natRules: rs.rules + rs.elements, filterRules: 0 };
  }

  healthy(): Promise<boolean> {
    return this.executor.healthy();
  }

  deleteConntrack(d: ConntrackDeletion): Promise<void> {
    return this.conntrack.deleteConntrack(d);
  }
}
