// In the CLI's bundle, `whatwg-url` (a dependency of node-fetch 2, itself a dependency of
// @kubernetes/client-node) is Node's own URL: node-fetch takes `require('url').URL` first and
// never reaches whatwg-url's, yet loading it builds tr46's Unicode tables (about 10 MB of heap)
// and warns that `punycode` is deprecated. See scripts/bundle.mjs.
export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;
export default { URL, URLSearchParams };
