// A CRI v1 client on @grpc/grpc-js: unary calls with hand-encoded messages (no protoc).

import * as grpc from '@grpc/grpc-js';
import { RuntimeError } from '../runtime.js';
import { Reader, type Writer } from './proto.js';

const pass = (b: Buffer): Buffer => b;

export class CriClient {
  private readonly client: grpc.Client;

  constructor(readonly socketPath: string) {
    this.client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  }

  /** Calls runtime.v1.<service>/<method>; gRPC errors become RuntimeErrors. */
  call(service: 'RuntimeService' | 'ImageService', method: string, req: Writer, timeoutMs = 120_000): Promise<Reader> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.${service}/${method}`,
        pass,
        pass,
        req.finish(),
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) reject(toRuntimeError(method, err));
          else resolve(new Reader(res ?? Buffer.alloc(0)));
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

export class CriCallError extends RuntimeError {
  constructor(
    code: ConstructorParameters<typeof RuntimeError>[0],
    message: string,
    readonly grpcCode: grpc.status,
    cause: unknown,
  ) {
    super(code, message, { cause });
  }
}

function toRuntimeError(method: string, err: grpc.ServiceError): RuntimeError {
  const msg = `containerd ${method}: ${err.details || err.message}`;
  switch (err.code) {
    case grpc.status.NOT_FOUND:
      return new CriCallError('NotFound', msg, err.code, err);
    case grpc.status.UNAVAILABLE:
    case grpc.status.UNIMPLEMENTED:
      return new CriCallError('Unavailable', msg, err.code, err);
    default:
      // containerd 1.6 reports some missing objects with Unknown and "not found".
      if (/not found|does not exist/i.test(err.details ?? '')) return new CriCallError('NotFound', msg, err.code, err);
      return new CriCallError(method === 'CreateContainer' ? 'CreateContainerError' : method === 'StartContainer' ? 'RunContainerError' : 'Unavailable', msg, err.code, err);
  }
}
