/**
 * Specifies TimerHeap, the scheduler's min-heap of deferred work: peekDue() is the earliest due
 * time, popDue(now) removes and returns exactly the items due at or before `now`, earliest first,
 * leaving the rest; items with equal due times are all returned. A randomized test checks the
 * heap against a sorted list through interleaved pushes and pops.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TimerHeap } from '../../src/queue/timer-heap.js';

describe('TimerHeap', () => {
  test('an empty heap has size 0, no due time and nothing due', () => {
    const heap = new TimerHeap<string>();
    assert.equal(heap.size, 0);
    assert.equal(heap.peekDue(), undefined);
    assert.deepEqual(heap.popDue(Number.MAX_SAFE_INTEGER), []);
  });

  test('peekDue is the earliest due time whatever the push order', () => {
    const heap = new TimerHeap<string>();
    heap.push(50, 'c');
    assert.equal(heap.peekDue(), 50);
    heap.push(10, 'a');
    heap.push(30, 'b');
    assert.equal(heap.peekDue(), 10);
    assert.equal(heap.size, 3);
  });

  test('popDue returns the items due at or before now, earliest first, and keeps the rest', () => {
    const heap = new TimerHeap<string>();
    for (const [due, value] of [
      [40, 'd'],
      [10, 'a'],
      [30, 'c'],
      [20, 'b'],
      [50, 'e'],
    ] as const)
      heap.push(due, value);
    assert.deepEqual(heap.popDue(5), []);
    assert.deepEqual(heap.popDue(30), ['a', 'b', 'c'], 'an item due exactly now is due');
    assert.equal(heap.size, 2);
    assert.equal(heap.peekDue(), 40);
    assert.deepEqual(heap.popDue(1000), ['d', 'e']);
    assert.equal(heap.size, 0);
  });

  test('items with equal due times are all returned', () => {
    const heap = new TimerHeap<number>();
    for (let i = 0; i < 5; i++) heap.push(7, i);
    heap.push(8, 99);
    assert.deepEqual(
      heap.popDue(7).sort((a, b) => a - b),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(heap.popDue(8), [99]);
  });

  test('randomized: interleaved pushes and pops agree with a sorted list', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const heap = new TimerHeap<number>();
    let model: number[] = [];
    let now = 0;
    for (let round = 0; round < 300; round++) {
      const pushes = Math.floor(random() * 8);
      for (let i = 0; i < pushes; i++) {
        const due = now + Math.floor(random() * 100);
        heap.push(due, due);
        model.push(due);
      }
      now += Math.floor(random() * 40);
      const expected = model.filter((d) => d <= now).sort((a, b) => a - b);
      model = model.filter((d) => d > now);
      assert.deepEqual(heap.popDue(now), expected, `round ${round}`);
      assert.equal(heap.size, model.length);
      assert.equal(heap.peekDue(), model.length ? Math.min(...model) : undefined);
    }
  });
});
