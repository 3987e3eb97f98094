/** A configuration the agent refuses, with the field it is about in the message. */
export class ConfigError extends Error {}
