import { parseArgs } from 'node:util';
import { beforeFirst } from '../../base/index.js';
import type { AgentConfig, Setting } from './table.js';
import { GROUPS, SETTINGS, showDefault } from './table.js';

// A command's options, declared once: its parser (util.parseArgs) and its --help are made
// from the declaration, the settings' flags from the settings table.

export interface CommandOption {
  readonly name: string;
  readonly short?: string;
  readonly type: 'string' | 'boolean';
  /** What the value looks like in --help. */
  readonly arg?: string;
  readonly default?: string;
  readonly help: string;
}

export interface Command {
  readonly name: string;
  /** The usage line(s), after "bosun ". */
  readonly usage: string;
  /** One line, for `bosun --help`. */
  readonly summary: string;
  /** More words, for its own --help. */
  readonly description?: string;
  readonly options?: readonly CommandOption[];
  /** Takes --config FILE (a KubeletConfiguration-shaped file; flags win over it). */
  readonly config?: boolean;
  /** The settings whose flags it takes: every one, or these. */
  readonly settings?: 'all' | readonly (keyof AgentConfig)[];
  readonly positionals?: boolean;
}

const HELP: CommandOption = { name: 'help', short: 'h', type: 'boolean', help: 'Print this help.' };
const CONFIG: CommandOption = { name: 'config', type: 'string', arg: 'FILE', help: 'A KubeletConfiguration-shaped YAML file; flags win over it.' };

function settingsOf(c: Command): Setting[] {
  const all = SETTINGS as readonly Setting[];
  if (!c.settings) return [];
  if (c.settings === 'all') return [...all];
  const want = c.settings as readonly string[];
  return all.filter((s) => want.includes(s.field));
}

/** Whether argv asks for help (-h or --help before a "--"). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '-h' || a === '--help') return true;
  }
  return false;
}

/**
 * Parses argv as the command declares. `flags` holds the settings' flags (for
 * resolveConfig), `values` the command's own options.
 */
export function parseCommand(c: Command, argv: string[]): { values: Record<string, string | boolean | undefined>; flags: Record<string, string | undefined>; config?: string; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string }> = {};
  for (const o of [...(c.options ?? []), ...(c.config ? [CONFIG] : [])]) options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
  const settingFlags = settingsOf(c).flatMap((s) => [s.flag, ...(s.aliases ?? [])].filter((f): f is string => !!f));
  for (const f of settingFlags) options[f] = { type: 'string' };
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: !!c.positionals, strict: true });
  const flags: Record<string, string | undefined> = {};
  const own: Record<string, string | boolean | undefined> = {};
  for (const [k, v] of Object.entries(values)) {
    if (settingFlags.includes(k)) flags[k] = v as string;
    else own[k] = v;
  }
  return { values: own, flags, ...(typeof values.config === 'string' ? { config: values.config } : {}), positionals };
}

// ---------------------------------------------------------------- help

const WIDTH = 100;

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Two columns: the left one padded, the right one wrapped under itself. */
function rows(list: readonly [string, string][], col = Math.min(34, Math.max(...list.map(([l]) => l.length)) + 2)): string {
  let out = '';
  for (const [left, right] of list) {
    const text = wrap(right, WIDTH - col - 2);
    if (left.length + 2 > col) {
      out += `  ${left}\n`;
      for (const t of text) out += `  ${' '.repeat(col)}${t}\n`;
    } else {
      out += `  ${left.padEnd(col)}${text[0] ?? ''}\n`;
      for (const t of text.slice(1)) out += `  ${' '.repeat(col)}${t}\n`;
    }
  }
  return out;
}

/** What --help says of a setting: its help, default, config key, and whether SIGHUP applies it. */
export function settingText(s: Setting): string {
  const facts = [`default: ${showDefault(s)}`, s.key ? `config: ${s.key}` : 'no config key', ...(s.reload ? ['SIGHUP applies it'] : [])];
  return `${s.help} (${facts.join('; ')})`;
}

function flagLeft(s: Setting): string {
  return `${[s.flag!, ...(s.aliases ?? [])].map((f) => `--${f}`).join(', ')} ${s.arg}`;
}

function optionLeft(o: CommandOption): string {
  return `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.arg ? ` ${o.arg}` : ''}`;
}

export function commandHelp(c: Command): string {
  let out = `Usage:\n${c.usage.split('\n').map((l) => `  bosun ${l}`).join('\n')}\n\n${wrap(c.summary + (c.description ? ` ${c.description}` : ''), WIDTH).join('\n')}\n`;
  const own = [...(c.options ?? []), ...(c.config ? [CONFIG] : []), HELP];
  out += `\nOptions:\n${rows(own.map((o) => [optionLeft(o), o.help + (o.default !== undefined ? ` (default: ${o.default})` : '')]))}`;
  const settings = settingsOf(c);
  const withFlag = settings.filter((s) => s.flag);
  for (const [group, title] of Object.entries(GROUPS)) {
    const list = withFlag.filter((s) => s.group === group);
    if (list.length) out += `\n${title}:\n${rows(list.map((s) => [flagLeft(s), settingText(s)]), 34)}`;
  }
  const fileOnly = c.config ? settings.filter((s) => !s.flag && s.key) : [];
  if (fileOnly.length) out += `\nIn the config file only (--config):\n${rows(fileOnly.map((s) => [`${s.key} ${s.arg}`, settingText(s)]), 34)}`;
  return out;
}

/** `bosun --help`: every command's usage and summary. */
export function overviewHelp(intro: string, commands: readonly Command[]): string {
  return `${intro}\n\nCommands:\n${rows(commands.map((c) => [beforeFirst(c.usage, '\n'), c.summary]))}\n"bosun COMMAND --help" lists a command's flags.\n`;
}
