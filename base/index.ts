// The building blocks every folder may use (one definition each): the clock and timers,
// and the logging interface. base imports nothing of ours.

export * from './clock.js';
export * from './log.js';
export * from './run.js';
export * from './rerun.js';
export * from './files.js';
export * from './arrays.js';
export * from './text.js';
