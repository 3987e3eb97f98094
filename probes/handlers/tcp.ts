import { connect } from 'node:net';
import type { Container, TCPSocketAction } from '../../manifests/index.js';
import { ProbeError, dialErrorText, hardClose, joinHostPort, resolvePort, type ProbeResult } from './common.js';

export interface TcpProbeOptions {
  container?: Pick<Container, 'name' | 'ports'>;
  podIP?: string;
  timeoutMs: number;
}

/** Success when the connection is accepted; the socket is then reset, never half-closed. */
export async function tcpSocketProbe(action: TCPSocketAction, opts: TcpProbeOptions): Promise<ProbeResult> {
  const port = resolvePort(action.port, opts.container);
  const host = action.host || opts.podIP;
  if (!host) throw new ProbeError('pod has no IP address to probe');
  return new Promise<ProbeResult>((resolve) => {
    const socket = connect({ host, port });
    const finish = (r: ProbeResult) => {
      clearTimeout(timer);
      hardClose(socket);
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ result: 'Failure', output: `dial tcp ${joinHostPort(host, port)}: i/o timeout` }),
      opts.timeoutMs,
    );
    socket.once('connect', () => finish({ result: 'Success', output: '' }));
    socket.once('error', (err) => finish({ result: 'Failure', output: dialErrorText(host, port, err) }));
  });
}
