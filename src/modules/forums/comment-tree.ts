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

/**
 * A post's comments as parallel arrays (one entry per comment, any order): what placing
 * and sorting need, as the tree statement returns it (comments.ts). Arrays of numbers and
 * strings rather than 10 000 row objects: parsing and collecting those was most of a big
 * thread's cost.
 */
export interface TreeShape {
  id: string[];
  parent: Array<string | null>;
  score: number[];
  up: number[];
  down: number[];
  deleted: boolean[];
}

export interface TreeRow {
  id: string;
  parent_id: string | null;
  score: number;
  upvotes: number;
  downvotes: number;
  deleted_at: Date | null;
}

/** The shape of rows (tests, small trees). */
export function shapeOf(rows: readonly TreeRow[]): TreeShape {
  return {
    id: rows.map((r) => r.id),
    parent: rows.map((r) => r.parent_id),
    score: rows.map((r) => r.score),
    up: rows.map((r) => r.upvotes),
    down: rows.map((r) => r.downvotes),
    deleted: rows.map((r) => r.deleted_at !== null),
  };
}

export interface TreeNode {
  id: string;
  deleted: boolean;
  replies: TreeNode[];
  /** Live (not deleted) descendants, shown or not. */
  descendants: number;
}

function sortKeys(shape: TreeShape, sort: CommentSort): Float64Array {
  const keys = new Float64Array(shape.id.length);
  if (sort === 'best') for (let i = 0; i < keys.length; i++) keys[i] = wilsonLowerBound(shape.up[i]!, shape.down[i]!);
  else if (sort === 'top') for (let i = 0; i < keys.length; i++) keys[i] = shape.score[i]!;
  // new: by id alone (UUIDv7 ids are time-ordered), keys stay 0
  return keys;
}

export interface ForestPage {
  roots: TreeNode[];
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
 * stack. Comments are handled by their index in the shape's arrays.
 */
export function pageTree(
  shape: TreeShape,
  sort: CommentSort,
  rootParentId: string | null,
  opts: { limit: number; cursor?: string | undefined; maxNodes: number },
): ForestPage {
  const { id: ids, deleted } = shape;
  const children = new Map<string | null, number[]>();
  for (let i = 0; i < ids.length; i++) {
    const parent = shape.parent[i]!;
    const list = children.get(parent);
    if (list) list.push(i);
    else children.set(parent, [i]);
  }
  const keys = sortKeys(shape, sort);
  // Descending by (key, id): the highest first, ties newest first.
  const order = (a: number, b: number) => keys[b]! - keys[a]! || (ids[a]! < ids[b]! ? 1 : ids[a]! > ids[b]! ? -1 : 0);
  const done: Array<TreeNode | undefined> = new Array(ids.length);
  const build = (root: number): TreeNode | undefined => {
    const stack: Array<{ at: number; expanded: boolean }> = [{ at: root, expanded: false }];
    while (stack.length) {
      const top = stack.at(-1)!;
      const kids = children.get(ids[top.at]!);
      if (!top.expanded) {
        top.expanded = true;
        if (kids) for (const kid of kids) stack.push({ at: kid, expanded: false });
        continue;
      }
      stack.pop();
      const replies: TreeNode[] = [];
      let descendants = 0;
      if (kids) {
        kids.sort(order);
        for (const kid of kids) {
          const node = done[kid];
          if (!node) continue;
          replies.push(node);
          descendants += node.descendants + (node.deleted ? 0 : 1);
        }
      }
      const gone = deleted[top.at]!;
      done[top.at] = gone && replies.length === 0 ? undefined : { id: ids[top.at]!, deleted: gone, replies, descendants };
    }
    return done[root];
  };

  const roots = (children.get(rootParentId) ?? []).sort(order);
  let start = 0;
  if (opts.cursor) {
    const [cursorSort, key, id] = decodeCursor(opts.cursor, 3) as [string, string, string];
    const keyValue = Number(key);
    if (cursorSort !== sort || !isUuid(id) || !Number.isFinite(keyValue)) throw invalidCursor();
    // Roots are sorted descending by (key, id): skip those at or above the cursor.
    start = roots.findIndex((at) => keys[at]! < keyValue || (keys[at] === keyValue && ids[at]! < id));
    if (start === -1) start = roots.length;
  }

  // The page's roots, built one by one (a deleted root without live replies is skipped),
  // and whether another shown root follows them.
  const page: Array<{ at: number; node: TreeNode }> = [];
  let more = false;
  for (let i = start; i < roots.length; i++) {
    const node = build(roots[i]!);
    if (!node) continue;
    if (page.length === opts.limit) {
      more = true;
      break;
    }
    page.push({ at: roots[i]!, node });
  }

  let budget = opts.maxNodes;
  const trim = (node: TreeNode): TreeNode => {
    budget -= 1;
    const replies: TreeNode[] = [];
    for (const reply of node.replies) {
      if (budget <= 0) break;
      replies.push(trim(reply));
    }
    return { ...node, replies };
  };
  const trimmed: Array<{ at: number; node: TreeNode }> = [];
  for (const root of page) {
    if (budget <= 0 && trimmed.length > 0) break;
    trimmed.push({ at: root.at, node: trim(root.node) });
  }
  const last = trimmed.at(-1);
  const next_cursor = (more || trimmed.length < page.length) && last ? encodeCursor([sort, String(keys[last.at]), last.node.id]) : null;
  return { roots: trimmed.map((root) => root.node), next_cursor };
}

/** How many live comments below `node` its (possibly cut) replies do not show. */
export function hiddenReplies(node: TreeNode, shown: TreeNode[]): number {
  const visible = shown.reduce((sum, reply) => sum + reply.descendants + (reply.deleted ? 0 : 1), 0);
  return node.descendants - visible;
}
