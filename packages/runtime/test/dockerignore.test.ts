import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkContext } from '../src/build/context-walk.js';
import { DockerIgnore } from '../src/build/dockerignore.js';

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

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile over the context root one, as BuildKit does', () => {
    const root = tree([
      '.dockerignore',
      'build/app.Dockerfile',
      'build/app.Dockerfile.dockerignore',
    ]);
    writeFileSync(join(root, '.dockerignore'), 'one\n');
    writeFileSync(join(root, 'build/app.Dockerfile.dockerignore'), 'two\n');
    const specific = DockerIgnore.load(root, join(root, 'build/app.Dockerfile'));
    expect(specific.patterns).toEqual(['two']);
    expect(DockerIgnore.load(root, join(root, 'Dockerfile')).patterns).toEqual(['one']);
    expect(DockerIgnore.load(tree(['Dockerfile']), 'Dockerfile').source).toBeUndefined();
  });
});
