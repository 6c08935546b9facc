#!/usr/bin/env node
// `npm start`: the example server, configured by the environment (see run.ts and the README).
import { run } from './run.js';

process.exitCode = await run({ shutdownOn: ['SIGINT', 'SIGTERM'] });
