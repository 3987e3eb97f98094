import { timingSafeEqual } from 'node:crypto';
import { matchGroups } from '../../base/index.js';

// Authentication on the kubelet port: bearer tokens from a kube-apiserver token file and
// client certificates verified against a client CA. Anonymous requests are refused.
// Authorization is kubelet's AlwaysAllow: any authenticated user may do everything.
// Pure: the server hands in the request's header and its verified peer certificate.

export interface User {
  name: string;
  uid?: string;
  groups: string[];
  /** How the user was recognised. */
  via: 'token' | 'x509';
}

export interface TokenEntry {
  token: string;
  user: User;
}

export class TokenFileError extends Error {}

/** One CSV record, with double-quoted fields ("" is a quote inside one). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new TokenFileError('unterminated quoted field');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      out.push(v);
      if (i < line.length && line[i] !== ',') throw new TokenFileError(`unexpected ${JSON.stringify(line[i])} after a quoted field`);
      i++;
    } else {
      const end = line.indexOf(',', i);
      out.push((end < 0 ? line.slice(i) : line.slice(i, end)).trim());
      i = end < 0 ? line.length + 1 : end + 1;
    }
  }
  return out;
}

/**
 * kube-apiserver's --token-auth-file: `token,user,uid[,"group1,group2"]` per line; blank
 * lines and lines starting with # are skipped. Errors name the line.
 */
export function parseTokenFile(text: string, path = 'token file'): TokenEntry[] {
  const out: TokenEntry[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, n) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim() || line.trimStart().startsWith('#')) return;
    let f: string[];
    try {
      f = csvFields(line);
    } catch (err) {
      throw new TokenFileError(`${path}:${n + 1}: ${(err as Error).message}`);
    }
    if (f.length < 3) throw new TokenFileError(`${path}:${n + 1}: expected token,user,uid[,"groups"] (got ${f.length} fields)`);
    const [token, name, uid, groups] = f;
    if (!token) throw new TokenFileError(`${path}:${n + 1}: empty token`);
    if (!name) throw new TokenFileError(`${path}:${n + 1}: empty user name`);
    if (seen.has(token)) throw new TokenFileError(`${path}:${n + 1}: duplicate token`);
    seen.add(token);
    out.push({ token, user: { name, uid: uid || undefined, groups: (groups ?? '').split(',').map((g) => g.trim()).filter(Boolean), via: 'token' } });
  });
  return out;
}

/** The subject of a client certificate the TLS layer has verified against the client CA. */
export interface PeerCertificate {
  subject?: { CN?: string | string[]; O?: string | string[] };
}

export type AuthResult = { ok: true; user: User } | { ok: false; status: 401; reason: string };

export class Authenticator {
  private readonly tokens: { token: Buffer; user: User }[];

  constructor(tokens: TokenEntry[]) {
    this.tokens = tokens.map((t) => ({ token: Buffer.from(t.token), user: t.user }));
  }

  /**
   * Either a bearer token or a verified client certificate suffices. A request that presents
   * a token must present a valid one: a wrong token is refused even with a good certificate
   * (stricter than kube-apiserver, which would take the certificate).
   */
  authenticate(authorization: string | undefined, peer: PeerCertificate | undefined, peerVerified: boolean): AuthResult {
    if (authorization !== undefined) {
      const m = matchGroups(/^Bearer\s+(\S+)\s*$/i, authorization, 1);
      if (!m) return { ok: false, status: 401, reason: 'malformed Authorization header' };
      const user = this.byToken(m[1]);
      return user ? { ok: true, user } : { ok: false, status: 401, reason: 'invalid bearer token' };
    }
    if (peer && peerVerified) {
      const cn = first(peer.subject?.CN);
      if (cn) return { ok: true, user: { name: cn, groups: list(peer.subject?.O), via: 'x509' } };
    }
    return { ok: false, status: 401, reason: 'anonymous access is not allowed' };
  }

  private byToken(token: string): User | undefined {
    const b = Buffer.from(token);
    let found: User | undefined;
    // Compare against every entry in constant time per entry.
    for (const t of this.tokens) if (t.token.length === b.length && timingSafeEqual(t.token, b)) found = t.user;
    return found;
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** kubelet's authorization modes; only AlwaysAllow works without an API server. */
export type AuthorizationMode = 'AlwaysAllow';
