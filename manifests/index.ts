// Public surface of manifests/: API types, parsing, validation, defaulting, hashing.
export * from './types.js';
export { type PodRef, podRef } from './ref.js';
export { type FieldError, type FieldErrorType, type ManifestErrorInit, ManifestError, formatFieldError, formatFieldErrorBody } from './errors.js';
export { type ParsedObject, type ParseResult, parseManifests } from './parse.js';
export { KINDS, validateObject, validateParsed, validatePod, validateStaticPodName } from './validate.js';
export { endpointIPProblems } from './validate-service.js';
export { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isValidLabelValue, isValidPortName } from './names.js';
export { applyPodDefaults, defaultImagePullPolicy, isSidecar, podFullName } from './defaults.js';
export { QUANTITY_FORMAT_MESSAGE, compareQuantities, isValidQuantity, milliValue, parseQuantity } from './quantity.js';
export { canonicalJSON, hashObject } from './hash.js';
export { type ContainerHashPart, CONTAINER_HASH_VERSION, containerSpecChanged, containerSpecHash } from './container-hash.js';
export { MAX_DEPTH, MAX_DOCUMENTS, MAX_ERROR_BYTES, MAX_MANIFEST_BYTES, capBytes, depthOf, findDuplicateJSONKey, truncate } from './limits.js';
export {
  type StaticPodOptions, CONFIG_HASH_ANNOTATION, CONFIG_MIRROR_ANNOTATION, CONFIG_SEEN_ANNOTATION, CONFIG_SOURCE_ANNOTATION,
  formatRFC3339Nano, staticPodFromManifest,
} from './static.js';
export { type Node as SchemaNode, schemas as SCHEMAS } from './schema.js';
