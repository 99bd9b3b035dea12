// Assembling a comment tree from the flat rows of one query (a post's comments are one
// range of forum_comments_post_id_parent_id_index), sorting siblings, pruning deleted
// leaves, and paging the top level. Pure functions: comments.ts does the I/O.
import { decodeCursor, encodeCursor } from '../../db/pagination.ts';
import { AppError } from '../../lib/errors.ts';
import { isUuid } from '../../lib/ids.ts';

export const COMMENT_SORTS = ['best', 'top', 'new'] as const;
export type CommentSort = (typeof COMMENT_SORTS)[number];

/** z for an 80% confidence interval, as Reddit's "best" uses. */
const Z = 1.281551565545;

/** The lower bound of the Wilson score interval of `up` successes in `up + down` trials. */
export function wilsonLowerBound(up: number, down: number): number {
  const n = up + down;
  if (n === 0) return 0;
  const p = up / n;
  const z2 = Z * Z;
  return (p + z2 / (2 * n) - Z * Math.sqrt((p * (1 - p) + z2 / (4 * n)) / n)) / (1 + z2 / n);
}

export interface TreeRow {
  id: string;
  parent_id: string | null;
  score: number;
  upvotes: number;
  downvotes: number;
  deleted_at: Date | null;
}

export interface TreeNode<R extends TreeRow> {
  row: R;
  replies: Array<TreeNode<R>>;
  /** Live (not deleted) descendants, shown or not. */
  descendants: number;
}

function sortKey(row: TreeRow, sort: CommentSort): number {
  if (sort === 'best') return wilsonLowerBound(row.upvotes, row.downvotes);
  if (sort === 'top') return row.score;
  return 0; // new: by id alone (UUIDv7 ids are time-ordered)
}

/** Descending by (key, id): the highest first, ties newest first. Keys are computed once. */
function compare(sort: CommentSort, rows: readonly TreeRow[]) {
  const keys = new Map(rows.map((row) => [row.id, sortKey(row, sort)]));
  return (a: TreeRow, b: TreeRow) => {
    const byKey = keys.get(b.id)! - keys.get(a.id)!;
    if (byKey !== 0) return byKey;
    return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
  };
}

export interface ForestPage<R extends TreeRow> {
  roots: Array<TreeNode<R>>;
  next_cursor: string | null;
}

function invalidCursor(): AppError {
  return new AppError('invalid_cursor', 'the cursor is not valid for this list', 400);
}

/**
 * One page of the forest under `rootParentId` (null: the top-level comments): `limit`
 * roots after the cursor (which carries the sort, the root's sort key and its id), each
 * with its replies sorted, deleted comments kept only where live replies hang below them
 * (the thread keeps its shape), and at most `maxNodes` comments in all, in display order:
 * replies past the budget are cut and their parent's `more_replies` says how many.
 *
 * Only the roots of the page are built (a 10 000-comment thread sorts its roots, then
 * walks the subtrees it shows), iteratively, so a 10 000-deep chain cannot overflow the
 * stack.
 */
export function pageTree<R extends TreeRow>(
  rows: R[],
  sort: CommentSort,
  rootParentId: string | null,
  opts: { limit: number; cursor?: string | undefined; maxNodes: number },
): ForestPage<R> {
  const children = new Map<string | null, R[]>();
  for (const row of rows) {
    const list = children.get(row.parent_id);
    if (list) list.push(row);
    else children.set(row.parent_id, [row]);
  }
  const order = compare(sort, rows);
  const build = (root: R): TreeNode<R> | undefined => {
    const done = new Map<string, TreeNode<R> | undefined>();
    const stack: Array<{ row: R; expanded: boolean }> = [{ row: root, expanded: false }];
    while (stack.length) {
      const top = stack.at(-1)!;
      const kids = children.get(top.row.id) ?? [];
      if (!top.expanded) {
        top.expanded = true;
        for (const kid of kids) stack.push({ row: kid, expanded: false });
        continue;
      }
      stack.pop();
      const replies = kids
        .sort(order)
        .map((kid) => done.get(kid.id))
        .filter((node): node is TreeNode<R> => node !== undefined);
      const descendants = replies.reduce((sum, node) => sum + node.descendants + (node.row.deleted_at === null ? 1 : 0), 0);
      done.set(top.row.id, top.row.deleted_at !== null && replies.length === 0 ? undefined : { row: top.row, replies, descendants });
    }
    return done.get(root.id);
  };

  const roots = (children.get(rootParentId) ?? []).sort(order);
  let start = 0;
  if (opts.cursor) {
    const [cursorSort, key, id] = decodeCursor(opts.cursor, 3) as [string, string, string];
    const keyValue = Number(key);
    if (cursorSort !== sort || !isUuid(id) || !Number.isFinite(keyValue)) throw invalidCursor();
    // Roots are sorted descending by (key, id): skip those at or above the cursor.
    start = roots.findIndex((row) => {
      const k = sortKey(row, sort);
      return k < keyValue || (k === keyValue && row.id < id);
    });
    if (start === -1) start = roots.length;
  }

  // The page's roots, built one by one (a deleted root without live replies is skipped),
  // and whether another shown root follows them.
  const page: Array<TreeNode<R>> = [];
  let more = false;
  for (let i = start; i < roots.length; i++) {
    const node = build(roots[i]!);
    if (!node) continue;
    if (page.length === opts.limit) {
      more = true;
      break;
    }
    page.push(node);
  }

  let budget = opts.maxNodes;
  const trim = (node: TreeNode<R>): TreeNode<R> => {
    budget -= 1;
    const replies: Array<TreeNode<R>> = [];
    for (const reply of node.replies) {
      if (budget <= 0) break;
      replies.push(trim(reply));
    }
    return { ...node, replies };
  };
  const trimmed: Array<TreeNode<R>> = [];
  for (const root of page) {
    if (budget <= 0 && trimmed.length > 0) break;
    trimmed.push(trim(root));
  }
  const last = trimmed.at(-1);
  const next_cursor = (more || trimmed.length < page.length) && last ? encodeCursor([sort, String(sortKey(last.row, sort)), last.row.id]) : null;
  return { roots: trimmed, next_cursor };
}

/** How many live comments below `node` its (possibly cut) replies do not show. */
export function hiddenReplies<R extends TreeRow>(node: TreeNode<R>, shown: Array<TreeNode<R>>): number {
  const visible = shown.reduce((sum, reply) => sum + reply.descendants + (reply.row.deleted_at === null ? 1 : 0), 0);
  return node.descendants - visible;
}
