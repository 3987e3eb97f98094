/** Thrown when a sleep hook is cut short (the container is going away). */
export class SleepInterruptedError extends Error {
  constructor() {
    super('container terminated before sleep hook finished');
    this.name = 'SleepInterruptedError';
  }
}

/** The sleep action (hooks only): resolves after `seconds`, rejects when the signal aborts. */
export function sleepAction(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new SleepInterruptedError());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new SleepInterruptedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, seconds) * 1000);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
