// The tree's pure parts: Wilson's lower bound, sibling order, pruning of deleted leaves,
// the node budget and top-level paging.
import { describe, expect, it } from 'vitest';
import { newId } from '../../lib/ids.ts';
import { pageTree as pageTreeOf, shapeOf, wilsonLowerBound, type TreeRow } from './comment-tree.ts';

const pageTree = (rows: TreeRow[], ...rest: Parameters<typeof pageTreeOf> extends [unknown, ...infer R] ? R : never) => pageTreeOf(shapeOf(rows), ...rest);

const row = (parent: TreeRow | null, up = 0, down = 0, deleted = false): TreeRow => ({
  id: newId(),
  parent_id: parent?.id ?? null,
  score: up - down,
  upvotes: up,
  downvotes: down,
  deleted_at: deleted ? new Date() : null,
});

describe('wilsonLowerBound', () => {
  it('is 0 without votes, ≈ 0.378 for one upvote, and prefers many good votes to few', () => {
    expect(wilsonLowerBound(0, 0)).toBe(0);
    expect(wilsonLowerBound(1, 0)).toBeCloseTo(0.3784, 3);
    expect(wilsonLowerBound(100, 10)).toBeGreaterThan(wilsonLowerBound(10, 0));
    expect(wilsonLowerBound(10, 0)).toBeGreaterThan(wilsonLowerBound(10, 5));
    for (const [up, down] of [[3, 1], [50, 50], [0, 7]] as const) {
      const value = wilsonLowerBound(up, down);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(up / (up + down));
    }
  });
});

describe('pageTree', () => {
  it('skips deleted roots without live replies (they take no place on the page) and keeps those with replies', () => {
    const a = row(null, 5);
    const goneLeaf = row(null, 4, 0, true);
    const goneWithReply = row(null, 3, 0, true);
    const reply = row(goneWithReply);
    const b = row(null, 1);
    const rows = [a, goneLeaf, goneWithReply, reply, b];
    const first = pageTree(rows, 'top', null, { limit: 2, maxNodes: 500 });
    expect(first.roots.map((n) => n.id)).toEqual([a.id, goneWithReply.id]);
    expect(first.roots[1]!.replies.map((n) => n.id)).toEqual([reply.id]);
    const second = pageTree(rows, 'top', null, { limit: 2, maxNodes: 500, cursor: first.next_cursor! });
    expect(second.roots.map((n) => n.id)).toEqual([b.id]);
    expect(second.next_cursor).toBeNull();
    // A page whose remaining roots are all deleted leaves has no next cursor.
    expect(pageTree([a, goneLeaf], 'top', null, { limit: 1, maxNodes: 500 }).next_cursor).toBeNull();
  });

  it('cuts at the node budget in display order and counts what it leaves out', () => {
    const root = row(null);
    const kids = Array.from({ length: 5 }, (_, i) => row(root, i));
    const grandkids = kids.map((kid) => row(kid));
    const page = pageTree([root, ...kids, ...grandkids], 'top', null, { limit: 10, maxNodes: 4 });
    const top = page.roots[0]!;
    // root, best kid, its child, second kid: 4 nodes.
    expect(top.replies.map((n) => n.id)).toEqual([kids[4]!.id, kids[3]!.id]);
    expect(top.replies[0]!.replies).toHaveLength(1);
    expect(top.replies[1]!.replies).toHaveLength(0);
    expect(top.descendants).toBe(10);
  });

  it('handles a chain 20 000 deep without recursion limits', () => {
    const rows: TreeRow[] = [row(null)];
    for (let i = 0; i < 20_000; i++) rows.push(row(rows.at(-1)!));
    const page = pageTree(rows, 'new', null, { limit: 1, maxNodes: 500 });
    expect(page.roots[0]!.descendants).toBe(20_000);
  });
});
