import type { KnownReason } from './results.js';

// Failures and skips of upstream's NodeConformance specs whose cause is this machine or the
// offline setup, not bosun: each names the concrete reason. RESULTS.md shows the reason
// next to what the suite said. A spec that fails because bosun lacks something is never
// listed here: that is fixed in bosun.
export const KNOWN_REASONS: KnownReason[] = [];
