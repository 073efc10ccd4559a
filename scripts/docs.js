#!/usr/bin/env node
// Writes the option table of lib/options.ts into docs/api.md, between its markers; a test fails
// while the two differ.
'use strict';

const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const { withOptionDocs } = require('../dist/options');

const page = join(__dirname, '..', 'docs', 'api.md');
writeFileSync(page, withOptionDocs(readFileSync(page, 'utf8')));
