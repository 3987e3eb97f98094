export { classifyPullError, ImageManager, type Emit, type ImageManagerOptions } from './manager.js';
export { lookup, parseDockerConfig, parseKey, keyMatches, type KeyringEntry } from './keyring.js';
export { CredentialProviders, loadCredentialProviderConfig, type CredentialProvider } from './providers.js';
export { mirrorCandidates, parseRegistryMirrors, renderHostsToml, writeHostsFiles, HOSTS_TOML_MARK, type RegistryMirrors } from './mirrors.js';
export { nodeDockerConfig } from './node-config.js';
export { goDurationMs, Puller } from './puller.js';
export { parseImageName, onRegistry, type ImageName } from './reference.js';
export { credentialHash, PullRecords } from './records.js';
export { imageNoTagDigest, mergePulledRecord, mustAttemptPull, parseAllowlistPattern, requiresVerification, VERIFICATION_POLICIES, type PullCredentials, type PulledRecord, type PullSecretRef, type VerificationPolicy } from './verify.js';
