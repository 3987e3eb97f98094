// netproxy runs programs the one way bosun does (base/run.ts).
export { type CommandResult, mustRun, runCommand, type Runner } from '../base/index.js';
