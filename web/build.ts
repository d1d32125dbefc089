/**
 * Builds the operator console page (part of `npm run build`): bundles web/console/src with
 * esbuild (preact, uPlot and the app's CSS included: nothing is loaded from another origin) into
 * dist/console/assets under names that carry a hash of their content, and writes
 * dist/console/index.html naming them. The server (src/http/console/static-files.ts) serves
 * these files; the index holds no inline script or style, as the console's CSP allows none.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository: this file runs as dist/web/build.js. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = path.join(root, 'dist/console');
const assets = path.join(out, 'assets');

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1d2327"/><path d="M6 11h20M6 16h14M6 21h20" stroke="#4dabf7" stroke-width="3" stroke-linecap="round"/></svg>\n`;

async function main(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'web/console/src/main.tsx' },
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: assets,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'warning',
  });
  const outputs = Object.entries(result.metafile.outputs);
  const entry = outputs.find(([, output]) => output.entryPoint === 'web/console/src/main.tsx');
  if (!entry) throw new Error('esbuild produced no bundle for web/console/src/main.tsx');
  const [script, { cssBundle }] = entry;
  if (!cssBundle) throw new Error('esbuild produced no stylesheet for the console');
  const code = readFileSync(path.join(root, script), 'utf8');
  // The CSP refuses eval and new Function: a dependency that needs them would fail in the browser.
  if (/\beval\(|\bnew Function\(/.test(code)) throw new Error(`${script} calls eval or new Function`);
  const icon = `icon-${createHash('sha256').update(ICON).digest('hex').slice(0, 8)}.svg`;
  writeFileSync(path.join(assets, icon), ICON);
  const url = (file: string) => `/console/assets/${path.basename(file)}`;
  const index = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    '<title>Sluice console</title>',
    `<link rel="icon" href="/console/assets/${icon}" type="image/svg+xml">`,
    `<link rel="stylesheet" href="${url(cssBundle)}">`,
    `<script type="module" src="${url(script)}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"></div>',
    '<noscript>The Sluice console needs JavaScript.</noscript>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
  writeFileSync(path.join(out, 'index.html'), index);
  const sizes = outputs.map(
    ([file, output]) => `${path.basename(file)} ${(output.bytes / 1024).toFixed(1)} KiB`,
  );
  process.stdout.write(`console page built into dist/console: ${sizes.join(', ')}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`console build failed: ${(error as Error).message}\n`);
  process.exit(1);
});
