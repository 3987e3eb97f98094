import { request, type OutgoingHttpHeaders } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { RawHttpError, rawGet, requestBytes, type RawResponse } from './rawhttp.js';
import type { Container, HTTPGetAction, HTTPHeader } from '../../manifests/index.js';
import {
  MAX_OUTPUT_BYTES, ProbeError, dialErrorText, goQuote, hardClose, joinHostPort, resolvePort,
  type ProbeResult,
} from './common.js';

export interface HttpGetOptions {
  /** For named ports. */
  container?: Pick<Container, 'name' | 'ports'>;
  /** Where to dial when the action has no host. */
  podIP?: string;
  /** For the whole exchange, redirects and body included; undefined: no limit. */
  timeoutMs?: number;
  /** kubelet's kube-probe/ or kube-lifecycle/<major>.<minor> (kubeUserAgent); unset: none is sent. */
  userAgent?: string;
  signal?: AbortSignal;
}

export interface HttpGetResponse {
  status: number;
  /** At most 10 KiB of it. */
  body: string;
  /** The URL that answered, after the redirects followed. */
  url: string;
}

/** A transport failure, worded like Go's net/http client (`Get "url": ...`). */
export class HttpGetError extends Error {
  /**
   * An HTTPS request that a plain HTTP server answered (Go: "http: server gave HTTP response
   * to HTTPS client"): kubelet tries a lifecycle hook again over HTTP then.
   */
  readonly httpResponseToHttps: boolean;

  constructor(message: string, opts: { httpResponseToHttps?: boolean } = {}) {
    super(message);
    this.name = 'HttpGetError';
    this.httpResponseToHttps = opts.httpResponseToHttps ?? false;
  }
}

/** Go's text for an HTTPS request that got a plain HTTP answer. */
export const HTTP_RESPONSE_TO_HTTPS = 'http: server gave HTTP response to HTTPS client';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REQUESTS = 10;

/** The request URL kubelet builds: scheme, host (or the pod IP), resolved port, path. */
export function httpGetURL(action: HTTPGetAction, container: HttpGetOptions['container'], podIP: string | undefined): URL {
  const scheme = (action.scheme ?? 'HTTP').toLowerCase();
  const host = action.host || podIP;
  if (!host) throw new ProbeError('pod has no IP address to probe');
  const port = resolvePort(action.port, container);
  const path = action.path ?? '';
  try {
    return new URL(`${scheme}://${joinHostPort(host, port)}${path.startsWith('/') ? '' : '/'}${path}`);
  } catch (err) {
    throw new ProbeError(`invalid probe URL for host ${goQuote(host)} and path ${goQuote(path)}`, { cause: err });
  }
}

/**
 * Header names are case-insensitive (Go canonicalizes them); a user's User-Agent or Accept
 * wins, an empty one removes the header, and keep-alive is off as in kubelet's transport.
 */
export function probeHeaders(list: HTTPHeader[] | undefined, userAgent: string | undefined): OutgoingHttpHeaders {
  const byName = new Map<string, { name: string; values: string[] }>();
  for (const h of list ?? []) {
    const key = h.name.toLowerCase();
    const entry = byName.get(key) ?? { name: h.name, values: [] };
    entry.values.push(h.value);
    byName.set(key, entry);
  }
  const defaults: [string, string][] = [...(userAgent ? [['User-Agent', userAgent] as [string, string]] : []), ['Accept', '*/*'], ['Connection', 'close']];
  for (const [name, value] of defaults) {
    const entry = byName.get(name.toLowerCase());
    if (!entry) byName.set(name.toLowerCase(), { name, values: [value] });
    else if (entry.values.every((v) => v === '')) byName.delete(name.toLowerCase());
  }
  const out: OutgoingHttpHeaders = {};
  for (const [key, { name, values }] of byName) {
    // Go sends one Host (the first); Node refuses an array there.
    out[name] = key === 'host' ? values[0] : values.length === 1 ? values[0] : values;
  }
  return out;
}

function withoutHost(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'host'));
}

/** One GET on a fresh connection: plain HTTP on a bare socket (rawhttp.ts), HTTPS through node:https. */
function requestOnce(url: URL, headers: OutgoingHttpHeaders, deadline: number | undefined, signal?: AbortSignal): Promise<RawResponse> {
  return url.protocol === 'http:' ? plainRequest(url, headers, deadline, signal) : nodeRequest(url, headers, deadline, signal);
}

async function plainRequest(url: URL, headers: OutgoingHttpHeaders, deadline: number | undefined, signal?: AbortSignal): Promise<RawResponse> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port) || 80;
  const override = Object.entries(headers).find(([k]) => k.toLowerCase() === 'host')?.[1];
  try {
    const request = requestBytes(`${url.pathname}${url.search}`, override === undefined ? url.host : String(override), headers);
    return await rawGet(host, port, request, deadline, signal);
  } catch (err) {
    if (err instanceof RawHttpError) throw new HttpGetError(`Get ${goQuote(url.href)}: ${err.message}`);
    throw err;
  }
}

/** One GET on a fresh connection that is reset, not closed, once the answer is in. */
function nodeRequest(url: URL, headers: OutgoingHttpHeaders, deadline: number | undefined, signal?: AbortSignal): Promise<RawResponse> {
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port) || (tls ? 443 : 80);
  const hasHost = Object.keys(headers).some((k) => k.toLowerCase() === 'host');
  return new Promise((resolve, reject) => {
    let raw: Socket | undefined;
    let phase: 'connect' | 'headers' | 'body' = 'connect';
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    // The response's own 'close' calls this after every answer: no error (and no stack
    // trace) is built once the exchange is settled.
    const fail = (text: string, httpResponseToHttps = false) => {
      if (!settled) finish(new HttpGetError(`Get ${goQuote(url.href)}: ${text}`, { httpResponseToHttps }));
    };
    const onAbort = () => fail('context canceled');
    const finish = (err: Error | undefined, value?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      hardClose(raw);
      req.destroy();
      if (err) reject(err);
      else resolve(value as RawResponse);
    };

    const req = request({
      host,
      port,
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      headers: hasHost ? headers : { ...headers, Host: url.host },
      createConnection: () => {
        // Half-open allowed: Node would otherwise answer the server's FIN with its own,
        // and a socket with a FIN queued can no longer be reset.
        raw = connect({ host, port, allowHalfOpen: true });
        raw.once('connect', () => {
          if (phase === 'connect') phase = 'headers';
        });
        if (!tls) return raw;
        // No certificate checks, as kubelet (InsecureSkipVerify); SNI only for names.
        return tlsConnect({
          socket: raw,
          servername: isIP(host) ? undefined : host,
          rejectUnauthorized: false,
          ALPNProtocols: ['http/1.1'],
        });
      },
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Go looks for "HTTP/" where the first TLS record should be; OpenSSL refuses the same
      // bytes with "wrong version number" (as it would any other non-TLS first record).
      if (tls && (err.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/.test(err.message))) fail(HTTP_RESPONSE_TO_HTTPS, true);
      else if (phase === 'connect') fail(dialErrorText(host, port, err));
      else fail(err.code === 'ECONNRESET' && err.message === 'socket hang up' ? 'EOF' : err.message);
    });
    req.on('response', (res) => {
      phase = 'body';
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () =>
        finish(undefined, {
          status: res.statusCode ?? 0,
          location: res.headers.location,
          body: Buffer.concat(chunks).subarray(0, MAX_OUTPUT_BYTES).toString('utf8'),
        });
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        // kubelet reads 10 KiB and stops: the rest of a large body is never downloaded.
        if (size >= MAX_OUTPUT_BYTES) done();
      });
      // Ahead of Node's own 'end' listener, which would close the socket with a FIN.
      res.prependListener('end', done);
      res.on('error', (err) => fail(err.message));
      res.on('close', () => fail('unexpected EOF'));
    });

    if (deadline !== undefined) {
      timer = setTimeout(() => {
        fail(
          `context deadline exceeded (${
            phase === 'body' ? 'Client.Timeout or context cancellation while reading body' : 'Client.Timeout exceeded while awaiting headers'
          })`,
        );
      }, Math.max(0, deadline - Date.now()));
    }
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

/**
 * GET with kubelet's client rules: redirects are followed only to the same host name (at
 * most 10 requests); a redirect elsewhere is returned as it is, for the caller to judge.
 * Throws ProbeError when the request cannot be built, HttpGetError on transport failures.
 */
export async function httpGet(action: HTTPGetAction, opts: HttpGetOptions = {}): Promise<HttpGetResponse> {
  const first = httpGetURL(action, opts.container, opts.podIP);
  let headers = probeHeaders(action.httpHeaders, opts.userAgent);
  const deadline = opts.timeoutMs === undefined ? undefined : Date.now() + opts.timeoutMs;
  let url = first;
  for (let n = 1; ; n++) {
    const res = await requestOnce(url, headers, deadline, opts.signal);
    const location = REDIRECTS.has(res.status) ? res.location : undefined;
    let next: URL | undefined;
    try {
      next = location === undefined ? undefined : new URL(location, url);
    } catch {
      next = undefined;
    }
    if (!next || next.hostname !== first.hostname) return { status: res.status, body: res.body, url: url.href };
    if (n >= MAX_REQUESTS) throw new HttpGetError(`Get ${goQuote(next.href)}: stopped after ${MAX_REQUESTS} redirects`);
    // Go keeps a Host override only across relative redirects.
    if (/^[a-z][a-z0-9+.-]*:/i.test(location ?? '')) headers = withoutHost(headers);
    url = next;
  }
}

/** kubelet's DoHTTPProbe verdict on a response. */
export function judgeHttpResponse(status: number, body: string): ProbeResult {
  if (status >= 200 && status < 400) {
    if (status >= 300) return { result: 'Warning', output: `Probe terminated redirects, Response body: ${body}` };
    return { result: 'Success', output: body };
  }
  // kubelet keeps the body out of this message on purpose (it may carry secrets).
  return { result: 'Failure', output: `HTTP probe failed with statuscode: ${status}` };
}

/** 200-399 is Success, a redirect to another host a Warning, anything else a Failure. */
export async function httpGetProbe(action: HTTPGetAction, opts: HttpGetOptions): Promise<ProbeResult> {
  try {
    const res = await httpGet(action, opts);
    return judgeHttpResponse(res.status, res.body);
  } catch (err) {
    if (err instanceof HttpGetError) return { result: 'Failure', output: err.message };
    throw err;
  }
}
