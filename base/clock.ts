// Time is injected so that back-off, grace periods, probe periods and the proxy's sync
// timers are testable without sleeping. Milliseconds since the epoch, as Date.now().
export interface Clock {
  now(): number;
}

/** A clock that also schedules: what a component with its own timers takes. */
export interface Timers extends Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The system clock whose timers never keep the process alive (periodic work a stop ends). */
export const backgroundTimers: Timers = {
  ...systemClock,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
};

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
