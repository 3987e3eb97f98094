// A minimal protobuf (proto3) wire encoder and decoder: varints, 64-bit integers as
// varints, length-delimited strings, bytes and messages, packed repeated integers, and maps
// as repeated key/value entries. Enough for the CRI v1 messages bosun uses, without a code
// generator: cri/containerd/messages.ts writes and reads the fields by their upstream numbers.

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export class Writer {
  private readonly parts: Buffer[] = [];

  private raw(b: Buffer): void {
    this.parts.push(b);
  }

  private varintRaw(v: bigint): void {
    const bytes: number[] = [];
    let n = BigInt.asUintN(64, v);
    while (n >= 0x80n) {
      bytes.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    bytes.push(Number(n));
    this.raw(Buffer.from(bytes));
  }

  private tag(field: number, wire: number): void {
    this.varintRaw(BigInt((field << 3) | wire));
  }

  /** int32/int64/uint32/uint64/enum/bool; zero (proto3's default) is left out. */
  int(field: number, v: number | bigint | boolean | undefined): this {
    if (v === undefined || v === 0 || v === 0n || v === false) return this;
    this.tag(field, WIRE_VARINT);
    this.varintRaw(typeof v === 'boolean' ? 1n : BigInt(typeof v === 'number' ? Math.trunc(v) : v));
    return this;
  }

  string(field: number, v: string | undefined): this {
    if (v === undefined || v === '') return this;
    return this.bytes(field, Buffer.from(v, 'utf8'));
  }

  bytes(field: number, v: Buffer): this {
    this.tag(field, WIRE_LEN);
    this.varintRaw(BigInt(v.length));
    this.raw(v);
    return this;
  }

  /** An embedded message, written even when empty (presence matters for messages). */
  message(field: number, w: Writer | undefined): this {
    if (w === undefined) return this;
    return this.bytes(field, w.finish());
  }

  strings(field: number, vs: readonly string[] | undefined): this {
    for (const v of vs ?? []) this.bytes(field, Buffer.from(v, 'utf8'));
    return this;
  }

  /** Packed repeated varints (proto3's default encoding for repeated scalars). */
  packed(field: number, vs: readonly number[] | undefined): this {
    if (!vs || vs.length === 0) return this;
    const inner = new Writer();
    for (const v of vs) inner.varintRaw(BigInt(Math.trunc(v)));
    return this.bytes(field, inner.finish());
  }

  map(field: number, m: Record<string, string> | undefined): this {
    for (const [k, v] of Object.entries(m ?? {})) this.message(field, new Writer().string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

type Value = bigint | Buffer;

/** A decoded message: every field number with its values in wire order. */
export class Reader {
  private readonly fields = new Map<number, Value[]>();

  constructor(buf: Buffer) {
    let pos = 0;
    const varint = (): bigint => {
      let result = 0n;
      let shift = 0n;
      for (;;) {
        if (pos >= buf.length) throw new Error('protobuf: truncated varint');
        const b = buf[pos++]!;
        result |= BigInt(b & 0x7f) << shift;
        if ((b & 0x80) === 0) return result;
        shift += 7n;
      }
    };
    while (pos < buf.length) {
      const key = Number(varint());
      const field = key >>> 3;
      const wire = key & 7;
      let value: Value;
      if (wire === WIRE_VARINT) value = varint();
      else if (wire === WIRE_LEN) {
        const len = Number(varint());
        value = buf.subarray(pos, pos + len);
        pos += len;
      } else if (wire === WIRE_I64) {
        value = buf.readBigUInt64LE(pos);
        pos += 8;
      } else if (wire === WIRE_I32) {
        value = BigInt(buf.readUInt32LE(pos));
        pos += 4;
      } else throw new Error(`protobuf: unsupported wire type ${wire}`);
      let list = this.fields.get(field);
      if (!list) this.fields.set(field, (list = []));
      list.push(value);
    }
  }

  private last(field: number): Value | undefined {
    const l = this.fields.get(field);
    return l?.[l.length - 1];
  }

  /** A signed 64-bit integer as a number (nanosecond times fit with a little rounding). */
  int(field: number): number {
    const v = this.last(field);
    return typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : 0;
  }

  /** int32 fields: negative values arrive as 64-bit two's complement too. */
  int32(field: number): number {
    const v = this.last(field);
    return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : 0;
  }

  uint(field: number): number {
    const v = this.last(field);
    return typeof v === 'bigint' ? Number(BigInt.asUintN(64, v)) : 0;
  }

  bool(field: number): boolean {
    return this.int(field) !== 0;
  }

  string(field: number): string {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? v.toString('utf8') : '';
  }

  bytes(field: number): Buffer {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? Buffer.from(v) : Buffer.alloc(0);
  }

  strings(field: number): string[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
  }

  has(field: number): boolean {
    return this.fields.has(field);
  }

  message(field: number): Reader | undefined {
    const v = this.last(field);
    return Buffer.isBuffer(v) ? new Reader(v) : undefined;
  }

  messages(field: number): Reader[] {
    return (this.fields.get(field) ?? []).filter(Buffer.isBuffer).map((b) => new Reader(b));
  }

  map(field: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.messages(field)) out[e.string(1)] = e.string(2);
    return out;
  }
}
