// The shape of the forums demo (`cgraph db demo`), planned in plain arrays before any row
// is written: which forum each post is in and when, how many votes (and downvotes) and
// comments each post gets. demo.ts turns it into rows with set-based statements.
//
// Skew, as on real forums: posts per forum follow Zipf(1.1) over the forums (a few big
// ones, a long tail of small ones); votes per post follow Zipf(0.9) over a random ranking
// of the posts (the top 100 of a million take about a fifth of all votes, capped by the
// voters a forum has); comments follow the votes (hot posts are discussed), with the
// `bigThreads` top posts carrying `bigThreadComments` each.

export interface ForumsDemoSize {
  forums: number;
  posts: number;
  /** Votes on posts (comment votes come on top, a few per comment). */
  votes: number;
  comments: number;
  bigThreads: number;
  bigThreadComments: number;
}

export function forumsDemoSize(scale: number): ForumsDemoSize {
  if (!(scale > 0) || scale > 10) throw new RangeError('scale must be a number above 0 and at most 10');
  return {
    forums: Math.max(3, Math.round(200 * scale)),
    posts: Math.max(200, Math.round(1_000_000 * scale)),
    votes: Math.max(1_000, Math.round(10_000_000 * scale)),
    comments: Math.max(300, Math.round(1_000_000 * scale)),
    bigThreads: Math.max(1, Math.round(20 * scale)),
    bigThreadComments: Math.min(10_000, Math.max(50, Math.round(200_000 * scale))),
  };
}

export interface PlannedForum {
  idx: number;
  isPublic: boolean;
  /** User numbers: the owner is `firstUser`, moderators the next `moderators`. */
  firstUser: number;
  moderators: number;
  /** Private forums: members are users firstUser .. firstUser + members - 1 (mod users). */
  members: number;
  /** Who may vote and comment: every user for a public forum, the members for a private one. */
  community: number;
  /** Post authors are the first `authors` of the community. */
  authors: number;
  flairs: number;
  createdMs: number;
  posts: number;
}

export interface ForumsDemoPlan {
  size: ForumsDemoSize;
  users: number;
  run: number;
  tag: string;
  nowMs: number;
  forums: PlannedForum[];
  /** Per post, in time (= id) order: forum (1-based), time, votes, downvotes, comments, pinned. */
  post: { forum: Int32Array; ms: Float64Array; votes: Int32Array; down: Int32Array; comments: Int32Array; pinned: Uint8Array };
}

const DAY = 86_400_000;

/** mulberry32: small and seeded, so a plan is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled(n: number, random: () => number): Int32Array {
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

export function planForumsDemo(
  scale: number,
  users: number,
  overrides: Partial<ForumsDemoSize> = {},
  seed = Date.now() % 2 ** 31,
  nowMs = Date.now(),
): ForumsDemoPlan {
  if (users < 1) throw new Error('the forums demo needs users: run the users/DMs demo first');
  const size = { ...forumsDemoSize(scale), ...overrides };
  const random = prng(seed);
  const start = nowMs - 365 * DAY;

  const forums: PlannedForum[] = [];
  const cumulative = new Float64Array(size.forums);
  let weights = 0;
  for (let idx = 1; idx <= size.forums; idx++) {
    // The three biggest forums are public; about one in seven of the rest is private.
    const isPublic = idx <= 3 || idx % 7 !== 3;
    const members = isPublic ? 0 : Math.min(users, 30 + ((idx * 37) % 400));
    const community = isPublic ? users : members;
    forums.push({
      idx,
      isPublic,
      firstUser: 1 + ((idx * 104_729) % users),
      moderators: Math.min(users - 1, 2 + (idx % 3)),
      members,
      community,
      authors: Math.max(1, Math.min(community, 100 + Math.floor(20_000 / idx))),
      flairs: idx % 5,
      createdMs: start - DAY + idx * 1000,
      posts: 0,
    });
    cumulative[idx - 1] = weights += 1 / idx ** 1.1;
  }

  // Posts evenly through the year (with jitter), each in a forum drawn by weight: already
  // in time order, so post number = id order and the rows append to the id indexes.
  const n = size.posts;
  const post = {
    forum: new Int32Array(n),
    ms: new Float64Array(n),
    votes: new Int32Array(n),
    down: new Int32Array(n),
    comments: new Int32Array(n),
    pinned: new Uint8Array(n),
  };
  const span = nowMs - 60_000 - start;
  for (let i = 0; i < n; i++) {
    const x = random() * weights;
    let lo = 0;
    let hi = size.forums - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    const forum = forums[lo]!;
    forum.posts += 1;
    post.forum[i] = lo + 1;
    post.ms[i] = start + Math.floor(((i + random()) * span) / n);
    // The first post of a forum of some size is its pinned welcome post.
    if (forum.posts === 1 && forum.idx <= Math.max(3, size.forums / 4)) post.pinned[i] = 1;
  }

  // Votes: Zipf(0.9) over a random ranking, floored and capped at the forum's community;
  // what the caps and floors leave goes one vote at a time down the ranking.
  const rank = shuffled(n, random);
  let harmonic = 0;
  for (let r = 1; r <= n; r++) harmonic += 1 / r ** 0.9;
  let assigned = 0;
  const cap = (i: number) => forums[post.forum[i]! - 1]!.community;
  for (let r = 0; r < n; r++) {
    const i = rank[r]!;
    assigned += post.votes[i] = Math.min(cap(i), Math.floor(size.votes / ((r + 1) ** 0.9 * harmonic)));
  }
  for (let progress = true; assigned < size.votes && progress; ) {
    progress = false;
    for (let r = 0; r < n && assigned < size.votes; r++) {
      const i = rank[r]!;
      if (post.votes[i]! < cap(i)) {
        post.votes[i]! += 1;
        assigned += 1;
        progress = true;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    // Mostly liked; some divisive; a few buried (more down than up).
    const u = random();
    const share = u < 0.9 ? random() * 0.2 : u < 0.98 ? 0.2 + random() * 0.25 : 0.45 + random() * 0.25;
    post.down[i] = Math.floor(post.votes[i]! * share);
  }

  // Comments follow the vote ranking: the top posts (every other one, so the very top
  // keeps some variety) are the big threads; the rest Zipf(0.8), randomly rounded.
  const bigSize = size.bigThreadComments;
  let bigLeft = Math.min(size.bigThreads, n);
  let restHarmonic = 0;
  for (let r = 1; r <= n; r++) restHarmonic += 1 / r ** 0.8;
  const rest = Math.max(0, size.comments - bigLeft * bigSize);
  for (let r = 0; r < n; r++) {
    const i = rank[r]!;
    if (bigLeft > 0 && (r % 2 === 0 || n - r <= bigLeft)) {
      post.comments[i] = bigSize;
      bigLeft -= 1;
      continue;
    }
    post.comments[i] = Math.min(bigSize - 1, Math.floor(rest / ((r + 1) ** 0.8 * restHarmonic) + random()));
  }

  // `run` goes into the ids (12 bits, beside their time); the slugs' tag has room for more,
  // so that a second demo in the same database meets no taken slug.
  const run = Math.floor(random() * 4096);
  const tag = Math.floor(random() * 36 ** 5).toString(36).padStart(5, '0');
  return { size, users, run, tag, nowMs, forums, post };
}

/**
 * Ranges of post numbers (1-based, inclusive) whose `rows(i)` add up to about `perBatch`
 * (one post is never split: none has more than its forum's community of votes).
 */
export function postBatches(n: number, rows: (i: number) => number, perBatch: number): Array<{ from: number; to: number; rows: number }> {
  const batches: Array<{ from: number; to: number; rows: number }> = [];
  let open: { from: number; to: number; rows: number } | undefined;
  for (let i = 0; i < n; i++) {
    const r = rows(i);
    if (r === 0) continue;
    if (!open || open.rows + r > perBatch) batches.push((open = { from: i + 1, to: i + 1, rows: 0 }));
    open.to = i + 1;
    open.rows += r;
  }
  return batches;
}
