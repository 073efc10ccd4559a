#!/usr/bin/env node
// Writes the option table of lib/options.ts into README.md, between its markers; a test fails
// while the two differ.
'use strict';

const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const { withOptionDocs } = require('../dist/options');

const readme = join(__dirname, '..', 'README.md');
writeFileSync(readme, withOptionDocs(readFileSync(readme, 'utf8')));
