import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { LabelFilter, RuntimeEvent, RuntimeEventType } from '../runtime.js';
import { wrapEngineError } from './errors.js';
import { onJsonLines } from './jsonlines.js';
import { dockerLabelFilters, LABEL_POD_UID, LABEL_TYPE } from './naming.js';

const ACTIONS: Record<string, RuntimeEventType> = {
  create: 'created',
  start: 'started',
  die: 'stopped',
  destroy: 'deleted',
};

interface DockerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export function toRuntimeEvent(raw: unknown): RuntimeEvent | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const e = raw as DockerEvent;
  if (e.Type !== undefined && e.Type !== 'container') return undefined;
  const type = ACTIONS[e.Action ?? e.status ?? ''];
  const id = e.Actor?.ID ?? e.id;
  if (!type || !id) return undefined;
  const podUid = e.Actor?.Attributes?.[LABEL_POD_UID];
  return podUid ? { id, type, podUid } : { id, type };
}

/**
 * Streams container events of managed containers. The stream is a hint to relist
 * sooner, not a source of truth: events missed while disconnected are recovered by the
 * caller's relist, and reconnecting is the caller's job.
 */
export function subscribe(
  docker: Docker,
  onEvent: (e: RuntimeEvent) => void,
  onError: (err: Error) => void,
  onReady?: () => void,
  filter?: LabelFilter,
): () => void {
  const abort = new AbortController();
  let stream: Readable | undefined;
  let done = false;
  const fail = (err: Error) => {
    if (done) return;
    done = true;
    onError(err);
  };
  docker
    .getEvents({
      // A label key alone matches any value: sandboxes and containers alike.
      // Several label filters must all match (the engine ANDs them).
      filters: { type: ['container'], label: [LABEL_TYPE, ...dockerLabelFilters(filter)] },
      abortSignal: abort.signal,
    })
    .then((s) => {
      stream = s as Readable;
      if (done) {
        stream.destroy();
        return;
      }
      onJsonLines(stream, (o) => {
        if (done) return;
        const ev = toRuntimeEvent(o);
        if (ev) onEvent(ev);
      });
      stream.once('error', (err: Error) => fail(wrapEngineError(undefined, 'Docker event stream', err)));
      stream.once('end', () => fail(new Error('Docker event stream ended')));
      stream.once('close', () => fail(new Error('Docker event stream closed')));
      // The engine answered the request with its headers: from here on it reports events.
      onReady?.();
    })
    .catch((err: unknown) => fail(wrapEngineError(undefined, 'subscribing to Docker events', err)));
  return () => {
    done = true;
    abort.abort();
    stream?.destroy();
  };
}
