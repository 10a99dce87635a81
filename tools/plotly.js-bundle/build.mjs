// Builds plotly-lims.min.js the way plotly.js builds its own dist bundles (the options of its
// esbuild-config.js: same plugins, target and globals; its tasks/ folder is not published), from
// index.js, and copies plotly.js's LICENSE next to it. The output is byte-for-byte reproducible.
//
//   npm ci && node build.mjs            writes ../../lims/static/vendor/plotly.js-lims-<version>/
//   node build.mjs <folder>             writes there instead
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');
const version = require('plotly.js/package.json').version;

const here = path.dirname(fileURLToPath(import.meta.url));
const out =
    process.argv[2] || path.join(here, '..', '..', 'lims', 'static', 'vendor', `plotly.js-lims-${version}`);
const result = await build({
    entryPoints: [path.join(here, 'index.js')],
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    write: false,
    logLevel: 'info'
});
const header = `/**
* plotly.js (lims: scatter, scattergl strict, bar - minified) v${version}
* Copyright 2012-2026, Plotly, Inc.
* All rights reserved.
* Licensed under the MIT license
*/
`;
mkdirSync(out, { recursive: true });
writeFileSync(path.join(out, 'plotly-lims.min.js'), header + result.outputFiles[0].text + 'window.Plotly = Plotly;\n');
copyFileSync(require.resolve('plotly.js/LICENSE'), path.join(out, 'LICENSE'));
console.log(`wrote ${out}/plotly-lims.min.js and LICENSE`);
