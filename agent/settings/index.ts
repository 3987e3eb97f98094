// The settings table and what is made from it: see table.ts.
export type { Parser, Taint } from './parse.js';
export { duration, formatDuration } from './parse.js';
export type { AgentConfig, Group, Setting } from './table.js';
export { DEFAULTS, FILE_KEYS, FLAGS, GROUPS, RELOADABLE, SETTINGS, fileValue, showDefault, showValue } from './table.js';
export type { Command, CommandOption } from './command.js';
export { commandHelp, overviewHelp, parseCommand, settingText, wantsHelp } from './command.js';
export { defaultConfigFile, readmeSection, withReadmeSection } from './render.js';
