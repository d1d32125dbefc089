#!/usr/bin/env node
// The threadpool serves every fsync of the spool; its size is fixed at first use, so set it before anything runs.
process.env.UV_THREADPOOL_SIZE ??= '16';
await import('../dist/src/cli/main.js');
