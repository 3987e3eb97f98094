// Interactive exec and attach on containerd: CRI's Exec/Attach calls answer with a URL on
// containerd's streaming server, spoken to over WebSocket with kubelet's channel protocol
// (v4.channel.k8s.io: one leading byte per frame, 0 stdin, 1 stdout, 2 stderr, 3 error
// status, 4 resize). v4 has no way to close stdin alone: ending stdin closes the session
// once the output has been quiet briefly (containerd 1.6's server predates v5's close).

import { PassThrough, Writable } from 'node:stream';
import WebSocket from 'ws';
import { RuntimeError, type StreamOptions, type StreamSession } from '../runtime.js';

export function openStream(url: string, opts: StreamOptions, exec: boolean): Promise<StreamSession> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    const stdout = opts.stdout ? new PassThrough() : undefined;
    const stderr = opts.stderr && !opts.tty ? new PassThrough() : undefined;
    let settle!: (code: number) => void;
    const exitCode = new Promise<number>((r) => (settle = r));
    let status: number | undefined;
    const finish = () => {
      stdout?.end();
      stderr?.end();
      settle(status ?? 0);
    };
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) return;
      const payload = data.subarray(1);
      switch (data[0]) {
        case 1: stdout?.write(payload); break;
        case 2: stderr?.write(payload); break;
        case 3: status = exitCodeOf(payload.toString('utf8')); break;
      }
    });
    ws.once('close', finish);
    ws.once('error', (err) => {
      if (ws.readyState === WebSocket.CONNECTING) reject(new RuntimeError('Unavailable', `containerd streaming server: ${err.message}`, { cause: err }));
      finish();
    });
    ws.once('open', () => {
      const stdin = opts.stdin ? new Writable({
        write(chunk: Buffer, _enc, cb) {
          ws.send(Buffer.concat([Buffer.from([0]), chunk]), cb);
        },
        final(cb) {
          // No half-close in v4: give the process a moment to answer what it was sent.
          setTimeout(() => ws.close(), 500).unref();
          cb();
        },
      }) : undefined;
      resolve({
        stdin,
        stdout,
        stderr,
        resize: async (width, height) => {
          if (opts.tty && ws.readyState === WebSocket.OPEN) ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: width, Height: height }))]));
        },
        exitCode: exec ? exitCode : exitCode.then(() => 0),
        close: () => ws.close(),
      });
    });
  });
}

/** The error channel carries a metav1.Status: Success, or NonZeroExitCode with the code. */
function exitCodeOf(text: string): number {
  try {
    const s = JSON.parse(text) as { status?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
    if (s.status === 'Success') return 0;
    const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
    return cause ? Number(cause.message) : 1;
  } catch {
    return 1;
  }
}
