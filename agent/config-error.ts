/** A configuration the agent refuses, with the field it is about in the message. */
import { UserError } from './user-error.js';

export class ConfigError extends UserError {}
