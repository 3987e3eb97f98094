export { TestApiServer, type Knobs, type RequestRecord, parseFieldSelector, parseLabelSelector, status } from './server.js';
export { Store, RESOURCES, type Obj, type Meta } from './store.js';
export { mergePatch, strategicMergePatch, jsonPatch } from './patch.js';
