// Container logs: the CRI log format, the copier that writes and rotates the files, and the
// readers behind `bosun logs` (and, later, the kubelet API's /containerLogs).

export * from './format.js';
export { CriLogWriter, tailLines } from './writer.js';
export { LogManager, logSymlinkPath, removePodLogs, type LogManagerOptions, type ContainerSource } from './manager.js';
export { followLogFile, lastLogText, readLogFile, Renderer, type ReadOptions } from './read.js';
export { logsMain, LogsError, LOGS_COMMAND, findPodLogDir, logAttempts } from './cli.js';
