import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { userAgent as defaultUserAgent } from '../vocab/index.js';
import { runExecPlugin, type Credentials, type RestConfig } from './kubeconfig.js';

// A small REST client for the API server, on node:http(s). Why not @kubernetes/client-node:
// its informer stops silently on watch errors, it hides BOOKMARKs and the in-stream ERROR
// event behind callbacks, and choosing the patch content type means request middleware; the
// agent needs exactly list, watch (line-framed JSON over a chunked stream), get, create,
// patch with a named content type, put and delete, which this file does in full view.

export interface ApiStatus {
  kind: 'Status';
  code?: number;
  reason?: string;
  message?: string;
}

export class ApiRequestError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string) {
    super(message);
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class ApiClient {
  private readonly agent: HttpAgent;
  private creds?: Credentials;
  private readonly https: boolean;

  constructor(readonly config: RestConfig, readonly userAgent = defaultUserAgent('client')) {
    this.https = config.server.startsWith('https:');
    this.agent = this.https
      ? new HttpsAgent({ keepAlive: true, ca: config.ca, cert: config.cert, key: config.key, rejectUnauthorized: !config.insecure })
      : new HttpAgent({ keepAlive: true });
  }

  close(): void {
    this.agent.destroy();
  }

  private async headers(): Promise<Record<string, string>> {
    const c = this.config;
    let token = c.token;
    if (c.tokenFile) token = readFileSync(c.tokenFile, 'utf8').trim(); // re-read: rotated tokens
    if (c.exec) {
      if (!this.creds || (this.creds.expires !== undefined && this.creds.expires < Date.now() + 10_000)) this.creds = await runExecPlugin(c.exec, c.server);
      token = this.creds.token ?? token;
    }
    return { 'user-agent': this.userAgent, accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  }

  private async open(method: string, path: string, body?: string, contentType?: string, timeoutMs = 30_000): Promise<IncomingMessage> {
    const headers = await this.headers();
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const url = new URL(this.config.server + path);
    const execCert = this.creds?.cert && this.creds.key ? { cert: this.creds.cert, key: this.creds.key } : {};
    return new Promise((resolve, reject) => {
      const req = (this.https ? httpsRequest : httpRequest)(url, { method, headers, agent: Object.keys(execCert).length ? undefined : this.agent, ...execCert, ...(this.https ? { ca: this.config.ca, rejectUnauthorized: !this.config.insecure } : {}) }, resolve);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A request with a JSON answer; non-2xx answers throw ApiRequestError with the Status. */
  async request<T>(method: string, path: string, body?: unknown, contentType?: string, timeoutMs?: number): Promise<T> {
    const res = await this.open(method, path, body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), contentType, timeoutMs);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const code = res.statusCode ?? 0;
    if (code < 200 || code > 299) {
      let st: Partial<ApiStatus> = {};
      try {
        st = JSON.parse(text) as ApiStatus;
      } catch {
        // not a Status
      }
      throw new ApiRequestError(code, st.reason ?? '', `${method} ${path}: ${code} ${st.message ?? text.slice(0, 200)}`);
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  /**
   * A watch: events are delivered one by one as complete lines arrive, whatever the chunk
   * boundaries (a line may span chunks and a UTF-8 character may be cut between two).
   * Resolves when the server ends the stream; rejects on HTTP errors (ApiRequestError, 410
   * included) and broken connections. `signal` ends it early.
   */
  async watch<T>(path: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal, idleTimeoutMs = 120_000): Promise<void> {
    const res = await this.open('GET', path, undefined, undefined, idleTimeoutMs);
    const code = res.statusCode ?? 0;
    if (code !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let st: Partial<ApiStatus> = {};
      try {
        st = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiStatus;
      } catch {
        // not a Status
      }
      throw new ApiRequestError(code, st.reason ?? '', `watch ${path}: ${code} ${st.message ?? ''}`);
    }
    if (signal.aborted) {
      res.destroy();
      return;
    }
    res.setEncoding('utf8'); // a StringDecoder: multi-byte characters split across chunks stay whole
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      const abort = () => res.destroy();
      signal.addEventListener('abort', abort, { once: true });
      res.socket?.setTimeout(idleTimeoutMs, () => res.destroy(new Error(`watch ${path}: nothing for ${idleTimeoutMs} ms`)));
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          let e: WatchEvent<T>;
          try {
            e = JSON.parse(line) as WatchEvent<T>;
          } catch (err) {
            res.destroy(new Error(`watch ${path}: a line that is not JSON: ${(err as Error).message}`));
            return;
          }
          try {
            onEvent(e);
          } catch (err) {
            res.destroy(err as Error);
            return;
          }
        }
      });
      res.on('end', () => {
        signal.removeEventListener('abort', abort);
        resolve();
      });
      res.on('error', (err) => {
        signal.removeEventListener('abort', abort);
        if (signal.aborted) resolve();
        else reject(err);
      });
      res.on('close', () => {
        signal.removeEventListener('abort', abort);
        if (signal.aborted || res.complete) resolve();
        else reject(new Error(`watch ${path}: connection closed`));
      });
    });
  }
}

export function isStatus(o: unknown): o is ApiStatus {
  return !!o && typeof o === 'object' && (o as { kind?: string }).kind === 'Status';
}
