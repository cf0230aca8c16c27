import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerIgnore } from '../src/context/dockerignore.js';
import { lstatKey } from '../src/context/stat-cache.js';
import { walkContext } from '../src/context/walk.js';

const roots: string[] = [];
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'walk-'));
  roots.push(root);
  for (const path of ['src/lib/util.py', 'src/main.py', 'docs/guide.md', 'docs/notes.txt']) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), path);
  }
  mkdirSync(join(root, 'empty'));
  symlinkSync('src/main.py', join(root, 'link'));
  chmodSync(join(root, 'src/main.py'), 0o755);
  return root;
}

describe('walkContext', () => {
  it('lists included entries sorted, links as links, excluded directories entered for exceptions', () => {
    const root = tree();
    const entries = walkContext(root, DockerIgnore.parse('docs\n!docs/guide.md\n'));
    expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual([
      'file docs/guide.md',
      'directory empty',
      'symlink link',
      'directory src',
      'directory src/lib',
      'file src/lib/util.py',
      'file src/main.py',
    ]);
    const main = entries.find((e) => e.path === 'src/main.py');
    expect(main).toMatchObject({ type: 'file', executable: true });
  });

  it('keys each file by its own bigint lstat: nanosecond times and the 64-bit inode', () => {
    const root = tree();
    const file = walkContext(root, DockerIgnore.parse('')).find((e) => e.path === 'src/main.py');
    expect(file?.type).toBe('file');
    if (file?.type !== 'file') return;
    expect(file.stat).toEqual(lstatKey(join(root, 'src/main.py')));
    expect(typeof file.stat.mtimeNs).toBe('bigint');
    expect(typeof file.stat.ino).toBe('bigint');
    expect(file.stat.size).toBe('src/main.py'.length);
  });

  it('sees every change on every walk: nothing of an earlier walk is reused', () => {
    const root = tree();
    const ignore = DockerIgnore.parse('');
    const before = walkContext(root, ignore).map((e) => e.path);
    writeFileSync(join(root, 'src/lib/added.py'), 'added');
    rmSync(join(root, 'docs/notes.txt'));
    const after = walkContext(root, ignore).map((e) => e.path);
    expect(after).toContain('src/lib/added.py');
    expect(after).not.toContain('docs/notes.txt');
    expect(after).toHaveLength(before.length);
  });
});
