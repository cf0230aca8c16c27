import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkContext } from '../src/context/walk.js';
import {
  DockerIgnore,
  DockerIgnoreError,
  DOCKERIGNORE_MAX_PATTERN_LENGTH,
  DOCKERIGNORE_MAX_PATTERNS,
} from '../src/context/dockerignore.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tree(paths: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'ignore-'));
  roots.push(root);
  for (const path of paths) {
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), path);
    }
  }
  return root;
}

function included(root: string, ignoreText: string): string[] {
  return walkContext(root, DockerIgnore.parse(ignoreText))
    .filter((e) => e.type !== 'directory')
    .map((e) => e.path);
}

describe('.dockerignore, with Docker semantics', () => {
  const files = [
    'Dockerfile',
    'app.py',
    'README.md',
    'docs/guide.md',
    'docs/img/logo.png',
    'src/a.py',
    'src/b.pyc',
    'src/sub/c.pyc',
    'node_modules/x/index.js',
  ];

  it('excludes a directory and everything below it by name, anchored at the context root', () => {
    const root = tree([...files, 'src/node_modules/kept.js']);
    const result = included(root, 'node_modules\n');
    expect(result).not.toContain('node_modules/x/index.js');
    // Unlike .gitignore, a bare name only matches at the root.
    expect(result).toContain('src/node_modules/kept.js');
  });

  it('lets * match within one path segment only, and ** across segments', () => {
    const root = tree(files);
    expect(included(root, '*.pyc\n')).toEqual(
      expect.arrayContaining(['src/b.pyc', 'src/sub/c.pyc']),
    );
    expect(included(root, 'src/*.pyc\n')).not.toContain('src/b.pyc');
    expect(included(root, 'src/*.pyc\n')).toContain('src/sub/c.pyc');
    expect(included(root, '**/*.pyc\n')).not.toContain('src/sub/c.pyc');
  });

  it('matches case-sensitively, as Docker does on Linux', () => {
    const root = tree(files);
    expect(included(root, 'readme.md\n')).toContain('README.md');
    expect(included(root, 'README.md\n')).not.toContain('README.md');
  });

  it('applies the last matching rule, so ! re-includes', () => {
    const root = tree(files);
    const result = included(root, 'docs\n!docs/guide.md\n');
    expect(result).toContain('docs/guide.md');
    expect(result).not.toContain('docs/img/logo.png');
    expect(included(root, '!docs/guide.md\ndocs\n')).not.toContain('docs/guide.md');
  });

  it('skips comments and blank lines, strips a leading slash and cleans paths', () => {
    const root = tree(files);
    const result = included(root, '# a comment\n\n/docs/./img/\n  app.py  \n');
    expect(result).not.toContain('docs/img/logo.png');
    expect(result).not.toContain('app.py');
    expect(result).toContain('docs/guide.md');
  });

  it('walks into an excluded directory only when an exception can re-include something below it', () => {
    const ignore = DockerIgnore.parse('docs\n!docs/guide.md\n');
    expect(ignore.canSkipExcludedDirectory('docs')).toBe(false);
    expect(ignore.canSkipExcludedDirectory('src')).toBe(true);
    expect(DockerIgnore.parse('docs\n').canSkipExcludedDirectory('docs')).toBe(true);
  });

  it('does not list an excluded directory itself, even when it walks into it for an exception', () => {
    const root = tree(files);
    const entries = walkContext(root, DockerIgnore.parse('docs\n!docs/guide.md\n'));
    expect(entries.find((e) => e.path === 'docs')).toBeUndefined();
    expect(entries.find((e) => e.path === 'docs/guide.md')).toBeDefined();
  });

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile over the context root one, as BuildKit does', async () => {
    const root = tree([
      '.dockerignore',
      'build/app.Dockerfile',
      'build/app.Dockerfile.dockerignore',
    ]);
    writeFileSync(join(root, '.dockerignore'), 'one\n');
    writeFileSync(join(root, 'build/app.Dockerfile.dockerignore'), 'two\n');
    const specific = await DockerIgnore.load(root, join(root, 'build/app.Dockerfile'));
    expect(specific.patterns).toEqual(['two']);
    expect((await DockerIgnore.load(root, join(root, 'Dockerfile'))).patterns).toEqual(['one']);
    const empty = tree(['Dockerfile']);
    expect((await DockerIgnore.load(empty, join(empty, 'Dockerfile'))).source).toBeUndefined();
  });
});

describe("Docker's documented .dockerignore examples", () => {
  const paths = [
    'somedir/temporary.txt',
    'somedir/temp',
    'somedir/subdir/temporary.txt',
    'tempa',
    'tempb',
    'temp',
    'tempab',
    'cmd/main.go',
    'main.go',
    'README.md',
    'README-secret.md',
    'README-public.md',
    'CHANGES.md',
    'docs/guide.md',
  ];
  const excluded = (text: string) =>
    paths.filter((path) => DockerIgnore.parse(text).ignores(path)).sort();

  it('*/temp* excludes names starting with temp one level below the root', () => {
    expect(excluded('# comment\n*/temp*\n')).toEqual(['somedir/temp', 'somedir/temporary.txt']);
  });

  it('*/*/temp* excludes them two levels below the root', () => {
    expect(excluded('*/*/temp*\n')).toEqual(['somedir/subdir/temporary.txt']);
  });

  it('temp? excludes one-character extensions of temp at the root', () => {
    expect(excluded('temp?\n')).toEqual(['tempa', 'tempb']);
  });

  it('**/*.go excludes .go files in every directory, the root included', () => {
    expect(excluded('**/*.go\n')).toEqual(['cmd/main.go', 'main.go']);
  });

  it('*.md with !README.md keeps only README.md of the root markdown files', () => {
    expect(excluded('*.md\n!README.md\n')).toEqual([
      'CHANGES.md',
      'README-public.md',
      'README-secret.md',
    ]);
  });

  it('the last matching line decides: README-secret.md after !README*.md is excluded', () => {
    expect(excluded('*.md\n!README*.md\nREADME-secret.md\n')).toEqual([
      'CHANGES.md',
      'README-secret.md',
    ]);
    expect(excluded('*.md\nREADME-secret.md\n!README*.md\n')).toEqual(['CHANGES.md']);
  });

  it('a trailing ** excludes everything below a directory, and a lone ** everything', () => {
    expect(excluded('somedir/**\n')).toEqual([
      'somedir/subdir/temporary.txt',
      'somedir/temp',
      'somedir/temporary.txt',
    ]);
    expect(excluded('**\n')).toEqual([...paths].sort());
  });
});

describe('.dockerignore from an untrusted source', () => {
  it('matches ten ** segments in linear time (no backtracking)', () => {
    const ignore = DockerIgnore.parse(`${'**/'.repeat(10)}x\n${'*a'.repeat(40)}b\n`);
    const deep = `${'a/'.repeat(200)}y`;
    const started = performance.now();
    expect(ignore.ignores(deep)).toBe(false);
    expect(ignore.ignores('a'.repeat(500))).toBe(false);
    expect(ignore.ignores(`${'a/'.repeat(200)}x`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('refuses more patterns than the cap, and an over-long pattern naming its line', () => {
    expect(() =>
      DockerIgnore.parse('a\n'.repeat(DOCKERIGNORE_MAX_PATTERNS + 1), '.dockerignore'),
    ).toThrow(
      new DockerIgnoreError(
        '.dockerignore',
        undefined,
        `has ${DOCKERIGNORE_MAX_PATTERNS + 1} patterns; at most ${DOCKERIGNORE_MAX_PATTERNS} are accepted`,
      ),
    );
    const long = `ok\n# c\n${'x'.repeat(DOCKERIGNORE_MAX_PATTERN_LENGTH + 1)}\n`;
    expect(() => DockerIgnore.parse(long, '.dockerignore')).toThrow(
      /^\.dockerignore:3: a pattern of 1025 characters/,
    );
  });

  it('refuses a bad character class and a lone ! with the line', () => {
    expect(() => DockerIgnore.parse('a\n[z-a\n', 'ctx/.dockerignore')).toThrow(
      /^ctx\/\.dockerignore:2: "\[z-a" is not a valid pattern/,
    );
    expect(() => DockerIgnore.parse('!\n', '.dockerignore')).toThrow(
      /:1: illegal exclusion pattern/,
    );
  });
});
