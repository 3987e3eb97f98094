import { stringify } from 'yaml';
import { wrap } from './command.js';
import type { Setting } from './table.js';
import { fileValue, GROUPS, SETTINGS, showValue } from './table.js';

// The two files made from the settings table: the README's settings section and the
// commented default config file (scripts/config.yaml, installed as /etc/bosun/config.yaml).
// `npm run gen:settings` writes them; test/unit/settings.test.ts fails when they are stale.

export const README_BEGIN = '<!-- settings:begin -->';
export const README_END = '<!-- settings:end -->';

const all = SETTINGS as readonly Setting[];

function reloadKeys(): string[] {
  return all.filter((s) => s.reload).map((s) => s.key ?? `--${s.flag}`);
}

/** Text in a Markdown table cell: pipes, and what Markdown would take for emphasis or HTML. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\*/g, '\\*').replace(/</g, '&lt;');
}

function code(text: string): string {
  return text ? `\`${text.replace(/\|/g, '\\|')}\`` : '';
}

/** The README's settings section, markers included. */
export function readmeSection(): string {
  let out = `${README_BEGIN}\n<!-- made by \`npm run gen:settings\` from agent/settings/table.ts: edit the table, not this -->\n`;
  const intro = `Every setting, as a \`--config\` key (KubeletConfiguration's name) and as a flag of \`bosun run\`
    (kubelet's or kube-proxy's name; flags win over the file). SIGHUP (\`systemctl reload bosun\`) applies the ones
    marked **reload** (${reloadKeys().map((k) => `\`${k}\``).join(', ')}) to the running agent; the others take effect
    at the next start. \`bosun run --help\` says the same.`;
  out += wrap(intro, 92).join('\n') + '\n';
  for (const [group, title] of Object.entries(GROUPS)) {
    const list = all.filter((s) => s.group === group);
    if (!list.length) continue;
    out += `\n**${title}**\n\n| Config key | Flag | Default | SIGHUP | Meaning |\n|---|---|---|---|---|\n`;
    for (const s of list) {
      const flags = [s.flag, ...(s.aliases ?? [])].filter(Boolean).map((f) => `\`--${f}\``).join(', ');
      const shown = s.defaultText ?? showValue(s, s.default);
      const def = s.defaultText ? cell(s.defaultText) : shown ? code(shown) : 'none';
      out += `| ${code(s.key ?? '')} | ${flags} | ${def} | ${s.reload ? 'reload' : ''} | ${cell(s.help)} |\n`;
    }
  }
  return `${out}${README_END}`;
}

/** The README with its settings section replaced; an error when the markers are missing. */
export function withReadmeSection(readme: string): string {
  const a = readme.indexOf(README_BEGIN);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md: the markers ${README_BEGIN} ... ${README_END} are missing`);
  return readme.slice(0, a) + readmeSection() + readme.slice(b + README_END.length);
}

function yamlValue(v: unknown): string {
  return stringify(v, { collectionStyle: 'flow', lineWidth: 0 }).trim();
}

/** scripts/config.yaml: every config key, commented out, with its help and its default. */
export function defaultConfigFile(): string {
  const reload = reloadKeys();
  let out = `# bosun's configuration (/etc/bosun/config.yaml), shaped like kubelet's KubeletConfiguration.
# Made by \`npm run gen:settings\` from agent/settings/table.ts.
#
# Every setting is commented out and shows its default (the ## lines above it say what it
# does): uncomment to change it. Flags win over this file; the service passes extra flags
# from BOSUN_ARGS in /etc/bosun/bosun.env.
# \`bosun run --help\` lists the flags.
#
# After an edit:
${wrap(`systemctl reload bosun (SIGHUP) applies ${reload.join(', ')} at once and logs which other changed settings wait for a restart;`, 84).map((l, i) => `#   ${i ? '  ' : ''}${l}`).join('\n')}
#   systemctl restart bosun applies everything. Pods keep running across a restart: the
#     new agent adopts them.
# The installer never overwrites this file; the shipped defaults stay in /opt/bosun/config.yaml.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
`;
  for (const [group, title] of Object.entries(GROUPS)) {
    const list = all.filter((s) => s.group === group && s.key);
    if (!list.length) continue;
    out += `\n# --- ${title}\n`;
    for (const s of list) {
      const facts = [s.help, ...(s.defaultText ? [`Default: ${s.defaultText}.`] : []), ...(s.flag ? [`Flag: --${s.flag}.`] : []), ...(s.reload ? ['SIGHUP applies it.'] : [])];
      // '## ': a note never reads as a commented setting ('# key: value').
      out += wrap(facts.join(' '), 88).map((l) => `## ${l}\n`).join('');
      out += s.default === undefined || s.defaultText ? `# ${s.key}:\n` : `# ${s.key}: ${yamlValue(fileValue(s, s.default))}\n`;
    }
  }
  return out;
}
