// Loaded (`--import`) into a worker thread started from the TypeScript sources, as under jest:
// the sources import each other as `./x.js`, as the compiled output names them, so a relative
// `.js` import from a `.ts` module resolves to the `.ts` file beside it when no `.js` is there.
// Compiled output and the CLI bundle never load it.
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (parent?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
      const js = new URL(specifier, parent);
      const ts = new URL(`${specifier.slice(0, -3)}.ts`, parent);
      if (!existsSync(fileURLToPath(js)) && existsSync(fileURLToPath(ts))) {
        return nextResolve(ts.href, context);
      }
    }
    return nextResolve(specifier, context);
  },
});
