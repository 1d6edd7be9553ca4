// Builds the dashboard into ../internal/web/dist, which the relay embeds:
// the page's own files as they are, and xterm.js from node_modules. No
// bundler: the browser loads the ES modules directly.
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'internal', 'web', 'dist');
const xterm = join(here, 'node_modules', '@xterm');

// Clear the old build but keep the placeholder that lets go:embed work on
// a fresh clone.
await mkdir(out, { recursive: true });
for (const name of await readdir(out)) {
  if (name !== '.keep') await rm(join(out, name), { recursive: true, force: true });
}

await cp(join(here, 'src'), out, { recursive: true });

// Vendored modules lose their source map comments: the maps are not shipped.
const vendor = join(out, 'vendor');
await mkdir(vendor);
const copies = [
  ['xterm/lib/xterm.mjs', 'xterm.mjs'],
  ['xterm/css/xterm.css', 'xterm.css'],
  ['addon-fit/lib/addon-fit.mjs', 'addon-fit.mjs'],
  ['xterm/LICENSE', 'LICENSE.xterm.txt'],
];
for (const [from, to] of copies) {
  let text = await readFile(join(xterm, from), 'utf8');
  text = text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
  await writeFile(join(vendor, to), text);
}
console.log(`web assets built into ${out}`);
