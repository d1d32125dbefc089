#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): the threadpool serves every fsync of the spool and its
// size is fixed at its first use. An ES module entry is itself read through that threadpool, so
// setting the size from one is too late; a CommonJS entry is read synchronously and runs first.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/src/cli/main.js').catch((error) => {
  console.error(error);
  process.exit(1);
});
