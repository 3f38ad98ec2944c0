// Bundles the chat widget into one self-contained script, web/dist/practice-chat.js.
//
// React, chatscope's components and styles, and the socket.io client all go into
// the bundle, so a page that embeds the widget fetches nothing from a CDN.
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: ['src/index.jsx'],
  outfile: 'dist/practice-chat.js',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2019'],
  jsx: 'automatic',
  loader: { '.css': 'text' },
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'eof',
  logLevel: 'info',
});
