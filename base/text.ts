import type { Tuple } from './arrays.js';

/** The text before the first `sep`, all of it when there is none: `s.split(sep)[0]`, typed as the string it always is. */
export function beforeFirst(s: string, sep: string): string {
  const i = s.indexOf(sep);
  return i < 0 ? s : s.slice(0, i);
}

/** A match: the matched text, then `N` capture groups that always take part, then any others. */
export type Groups<N extends number> = [string, ...Tuple<string, N>, ...(string | undefined)[]];

/**
 * `re.exec(s)`, with capture groups 1 to `n` typed as present: for patterns whose first `n`
 * groups take part in every match (none under `?`, `*` or `|`). One missing from a match is
 * a mistake in the pattern, and throws; later groups stay possibly undefined.
 */
export function matchGroups<N extends number>(re: RegExp, s: string, n: N): Groups<N> | undefined {
  const m = re.exec(s);
  if (!m) return undefined;
  for (let i = 1; i <= n; i++) if (m[i] === undefined) throw new Error(`${re}: group ${i} took no part in the match of ${JSON.stringify(s)}`);
  return m as unknown as Groups<N>;
}
