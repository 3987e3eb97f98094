/**
 * An error whose message is all a person needs (a bad flag, a config field, a held lock):
 * the CLI prints its message without a stack trace. Anything else is a bug and keeps its stack.
 */
export class UserError extends Error {}
