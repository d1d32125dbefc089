/** A min-heap of items by due time, for the scheduler's deferred work. */
export class TimerHeap<T> {
  private readonly items: Array<{ due: number; value: T }> = [];

  get size(): number {
    return this.items.length;
  }

  peekDue(): number | undefined {
    return this.items[0]?.due;
  }

  push(due: number, value: T): void {
    const items = this.items;
    items.push({ due, value });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.due <= items[i]!.due) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  /** Removes and returns every item due at or before `now`, earliest first. */
  popDue(now: number): T[] {
    const out: T[] = [];
    while (this.items.length > 0 && this.items[0]!.due <= now) out.push(this.pop());
    return out;
  }

  private pop(): T {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && items[l]!.due < items[m]!.due) m = l;
        if (r < items.length && items[r]!.due < items[m]!.due) m = r;
        if (m === i) break;
        [items[m], items[i]] = [items[i]!, items[m]!];
        i = m;
      }
    }
    return top.value;
  }
}
