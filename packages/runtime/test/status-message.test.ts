import { statusMessage } from '../src/agent/status.js';

describe('statusMessage', () => {
  it('keeps a short message whole, with secrets removed', () => {
    expect(statusMessage(new Error('failed: password=hunter2'))).not.toContain('hunter2');
    expect(statusMessage(new Error('short'))).toBe('short');
  });

  it('keeps the start and the end of a long one (a build log says why last), at most 4000 characters', () => {
    const message = statusMessage(
      new Error(`the build failed\n${'x'.repeat(20_000)}\nerror building image: exit status 1`),
    );
    expect(message.length).toBeLessThanOrEqual(4000);
    expect(message.startsWith('the build failed\n')).toBe(true);
    expect(message).toMatch(/\n\[\.\.\. \d+ characters cut \.\.\.\]\n/);
    expect(message.endsWith('\nerror building image: exit status 1')).toBe(true);
  });
});
