#!/usr/bin/env node
// The `eventsync` executable (package.json `bin`).
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
