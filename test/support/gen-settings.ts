import { readFileSync, writeFileSync } from 'node:fs';
import { defaultConfigFile, withReadmeSection } from '../../agent/settings/index.js';

// `npm run gen:settings`: writes what is made from the settings table into the files that
// are not built (README.md's settings section, scripts/config.yaml). Run from the checkout.
writeFileSync('README.md', withReadmeSection(readFileSync('README.md', 'utf8')));
writeFileSync('scripts/config.yaml', defaultConfigFile());
process.stdout.write('wrote README.md (settings section) and scripts/config.yaml\n');
