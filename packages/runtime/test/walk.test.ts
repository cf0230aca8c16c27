import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ListedKind,
  lstatKey,
  walkContext,
  type DirectoryListing,
  type WalkMemory,
} from '../src/context/walk.js';
import { DockerIgnore } from '../src/context/dockerignore.js';
import { decodeStatCache } from '../src/context/stat-cache-file.js';
import { RACY_WINDOW_MS, StatCache } from '../src/context/stat-cache.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

/** A small tree with every kind of listed child, all of it aged out of the racy window. */
function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'walk-'));
  roots.push(root);
  for (const path of ['src/lib/util.py', 'src/main.py', 'docs/guide.md', 'docs/notes.txt']) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), path);
  }
  mkdirSync(join(root, 'empty'));
  symlinkSync('src/main.py', join(root, 'link'));
  const old = new Date(Date.now() - 60_000);
  for (const path of ['src/lib', 'src', 'docs', 'empty', ''])
    utimesSync(join(root, path), old, old);
  return root;
}

const later = () => Date.now() + 10 * RACY_WINDOW_MS;

/** A WalkMemory that answers `listing` from `listings` and records what the walk asked. */
function fakeMemory(listings: Record<string, DirectoryListing>): WalkMemory & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    wasIncluded: () => false,
    listing: (path) => {
      asked.push(path);
      return listings[path];
    },
    rememberListing: () => {},
  };
}

describe('walkContext with remembered listings', () => {
  // Exceptions make `docs` an excluded directory that must still be entered.
  const ignore = DockerIgnore.parse('docs\n!docs/guide.md\n');

  it('gives the same entries from the stat cache as from reading every directory', () => {
    const root = tree();
    const cacheDir = mkdtempSync(join(tmpdir(), 'walk-cache-'));
    roots.push(cacheDir);
    const plain = walkContext(root, ignore);
    const first = StatCache.open(root, cacheDir, later(), ignore.fingerprint);
    expect(walkContext(root, ignore, first)).toEqual(plain);
    first.save();

    const second = StatCache.open(root, cacheDir, later(), ignore.fingerprint);
    const reused: string[] = [];
    const counting: WalkMemory = {
      wasIncluded: (path) => second.wasIncluded(path),
      listing: (path, stat) => {
        const listing = second.listing(path, stat);
        if (listing) reused.push(path);
        return listing;
      },
      rememberListing: (path, stat, listing) => second.rememberListing(path, stat, listing),
    };
    expect(walkContext(root, ignore, counting)).toEqual(plain);
    // Every directory the walk enters, the excluded `docs` included, came from its listing.
    expect(reused.sort()).toEqual(['', 'docs', 'empty', 'src', 'src/lib']);
  });

  it('uses a remembered listing instead of reading the directory', () => {
    const root = tree();
    const memory = fakeMemory({ '': { names: ['src'], kinds: [ListedKind.directory] } });
    const paths = walkContext(root, ignore, memory).map((e) => e.path);
    // Only what the root's listing names: it is trusted because the root's stat is unchanged.
    expect(paths).toEqual(['src', 'src/lib', 'src/lib/util.py', 'src/main.py']);
    expect(memory.asked).toEqual(['', 'src', 'src/lib']);
  });

  it.each([
    ['a child that is gone', { names: ['gone.txt'], kinds: [ListedKind.file] }],
    ['a directory listed as a file', { names: ['src'], kinds: [ListedKind.file] }],
    ['a file listed as a directory', { names: ['link'], kinds: [ListedKind.directory] }],
    ['a file listed as a symlink', { names: ['empty'], kinds: [ListedKind.symlink] }],
    ['an unknown kind', { names: ['src'], kinds: [9] }],
  ])('reads the directory again when its listing has %s', (_, listing) => {
    const root = tree();
    const memory = fakeMemory({ '': listing });
    expect(walkContext(root, ignore, memory)).toEqual(walkContext(root, ignore));
  });

  it('replaces a remembered listing that did not fit the directory', () => {
    const root = tree();
    const cacheDir = mkdtempSync(join(tmpdir(), 'walk-cache-'));
    roots.push(cacheDir);
    const rootStat = lstatKey(root);
    const wrong = StatCache.open(root, cacheDir, later(), ignore.fingerprint);
    wrong.rememberListing('', rootStat, { names: ['gone.txt'], kinds: [ListedKind.file] });
    wrong.save();

    const cache = StatCache.open(root, cacheDir, later(), ignore.fingerprint);
    expect(walkContext(root, ignore, cache)).toEqual(walkContext(root, ignore));
    cache.save();
    const saved = decodeStatCache(readFileSync(cache.file!))!;
    expect(saved.dirPaths.filter((path) => path === '')).toHaveLength(1);
    const reopened = StatCache.open(root, cacheDir, later(), ignore.fingerprint);
    expect(reopened.listing('', rootStat)?.names).toEqual(['docs', 'empty', 'link', 'src']);
  });
});
