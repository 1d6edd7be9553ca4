// Copies the third-party modules the page loads, xterm.js and its fit
// addon, from node_modules (pinned by package-lock.json) into vendor/,
// which is committed: the relay embeds src/ and vendor/ as they are (see
// web.go), so go build and go install need no Node. No bundler: the
// browser loads the ES modules directly.
//
//   node build.mjs          write vendor/
//   node build.mjs --check  exit 1 if vendor/ differs from what it would write
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'vendor');
const xterm = join(here, 'node_modules', '@xterm');
const check = process.argv.includes('--check');

const copies = [
  ['xterm/lib/xterm.mjs', 'xterm.mjs'],
  ['xterm/css/xterm.css', 'xterm.css'],
  ['addon-fit/lib/addon-fit.mjs', 'addon-fit.mjs'],
  ['xterm/LICENSE', 'LICENSE.xterm.txt'],
];

await mkdir(out, { recursive: true });
const stale = [];
for (const [from, to] of copies) {
  // Vendored modules lose their source map comments: the maps are not shipped.
  const text = (await readFile(join(xterm, from), 'utf8')).replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  if (!check) {
    await writeFile(join(out, to), text);
    continue;
  }
  const have = await readFile(join(out, to), 'utf8').catch(() => null);
  if (have !== text) stale.push(`vendor/${to}`);
}
if (stale.length) {
  console.error(`${stale.join(', ')} differ from node_modules: run make web and commit web/vendor`);
  process.exit(1);
}
console.log(check ? 'web/vendor matches node_modules' : `vendored modules written to ${out}`);
