import { SourceBudget } from '../src/agent/source-budget.js';

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
};

describe('SourceBudget (launchjobs.source-budget-bytes)', () => {
  it('lets as many sources write at once as their caps fit, and the next one waits', async () => {
    const budget = new SourceBudget(300);
    const first = await budget.reserve(100);
    const second = await budget.reserve(100);
    const third = await budget.reserve(100);
    const fourth = budget.reserve(100);
    expect(await settled(fourth)).toBe(false);
    expect(budget.waitingCount()).toBe(1);
    first.release();
    expect(await settled(fourth)).toBe(true);
    expect(budget.reservedBytes()).toBe(300);
    second.release();
    third.release();
    (await fourth).release();
    expect(budget.reservedBytes()).toBe(0);
  });

  it('keeps only what a written source takes, so others may start', async () => {
    const budget = new SourceBudget(200);
    const written = await budget.reserve(100);
    const other = await budget.reserve(100);
    const waiting = budget.reserve(100);
    expect(await settled(waiting)).toBe(false);
    written.shrink(10);
    expect(await settled(waiting)).toBe(false); // 10 + 100 + 100 > 200
    other.shrink(50);
    expect(await settled(waiting)).toBe(true);
    expect(budget.reservedBytes()).toBe(160);
    written.shrink(1000); // never grows
    expect(budget.reservedBytes()).toBe(160);
  });

  it('serves waiters first come, first served, and drops one whose build is cancelled', async () => {
    const budget = new SourceBudget(100);
    const held = await budget.reserve(100);
    const abort = new AbortController();
    const cancelled = budget.reserve(100, abort.signal);
    const next = budget.reserve(100);
    abort.abort(new Error('the job was deleted'));
    await expect(cancelled).rejects.toThrow('the job was deleted');
    expect(budget.waitingCount()).toBe(1);
    held.release();
    expect(await settled(next)).toBe(true);
    expect(budget.reservedBytes()).toBe(100);
  });
});
