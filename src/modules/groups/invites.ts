// Invite codes and joining by them. A code is a group_invites row (optionally expiring or
// limited in uses); groups.invite_code points at the group's current default invite.
// Redeeming is one conditional UPDATE (`uses < max_uses`), so concurrent joins never take
// more uses than allowed; a ban and a join of the same user serialise on an advisory lock
// so a ban cannot slip between a join's ban check and its insert.
import { randomInt } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { fail, transaction } from '../../db/unit-of-work.ts';
import type { EventBus } from '../../events/bus.ts';
import { AppError, NotFoundError, ValidationError } from '../../lib/errors.ts';
import { isUniqueViolation, lockMembership, memberAccess, requirePermission } from './guards.ts';
import { memberView, type MemberView } from './members.ts';
import { Permission } from './permissions.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const CODE_LENGTH = 10;
const CODE_FORMAT = /^[A-Za-z0-9]{6,32}$/;
/** Longest an invite may live: 30 days. */
export const MAX_INVITE_SECONDS = 30 * 24 * 3600;
export const MAX_INVITE_USES = 100_000;

/** 10 characters of base 62 (~59 bits): not guessable by enumeration. */
export function newInviteCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

export interface InviteView {
  invite_code: string;
  group_id: string;
  max_uses: number | null;
  uses: number;
  expires_at: string | null;
  inserted_at: string;
}

export interface CreateInviteInput {
  max_uses?: number | null | undefined;
  expires_in_seconds?: number | null | undefined;
}

/**
 * CREATE_INVITE. Without limits the new code becomes the group's default invite and the
 * previous default stops working (regenerating a leaked code); with `max_uses` or
 * `expires_in_seconds` it is an extra invite next to the default.
 */
export async function createInvite(
  db: Db,
  userId: string,
  groupId: string,
  input: CreateInviteInput,
): Promise<InviteView> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.CREATE_INVITE);
  const maxUses = input.max_uses ?? null;
  const expiresIn = input.expires_in_seconds ?? null;
  if (maxUses !== null && (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > MAX_INVITE_USES)) {
    throw new ValidationError({ max_uses: [`must be between 1 and ${MAX_INVITE_USES}`] });
  }
  if (expiresIn !== null && (!Number.isInteger(expiresIn) || expiresIn < 60 || expiresIn > MAX_INVITE_SECONDS)) {
    throw new ValidationError({ expires_in_seconds: [`must be between 60 and ${MAX_INVITE_SECONDS}`] });
  }
  const isDefault = maxUses === null && expiresIn === null;
  // A collision of 59 random bits is all but impossible; one retry covers it anyway.
  for (let attempt = 0; ; attempt++) {
    try {
      const outcome = await transaction(db, async (trx) => {
        const invite = await trx
          .insertInto('group_invites')
          .values({
            code: newInviteCode(),
            group_id: groupId,
            inviter_id: userId,
            max_uses: maxUses,
            expires_at: expiresIn === null ? null : sql<Date>`now() + make_interval(secs => ${expiresIn})`,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        if (isDefault) {
          const previous = await trx
            .selectFrom('groups')
            .select('invite_code')
            .where('id', '=', groupId)
            .forUpdate()
            .executeTakeFirstOrThrow();
          await trx.updateTable('groups').set({ invite_code: invite.code }).where('id', '=', groupId).execute();
          if (previous.invite_code) {
            await trx.deleteFrom('group_invites').where('code', '=', previous.invite_code).execute();
          }
        }
        return invite;
      });
      if (!outcome.ok) throw new Error('unreachable');
      const invite = outcome.value;
      return {
        invite_code: invite.code,
        group_id: invite.group_id,
        max_uses: invite.max_uses,
        uses: invite.uses,
        expires_at: invite.expires_at?.toISOString() ?? null,
        inserted_at: invite.inserted_at.toISOString(),
      };
    } catch (error) {
      if (attempt === 0 && isUniqueViolation(error, 'group_invites_pkey')) continue;
      throw error;
    }
  }
}

const invalidInvite = () => new AppError('invite_invalid', 'this invite is unknown, expired or used up', 404);
export const bannedError = () => new AppError('banned_from_group', 'you are banned from this group', 403);

/**
 * Joins the invite's group: 200 with the membership. Already a member: the same, and no
 * use is taken. Banned: 403. Unknown, expired or used-up code: 404 invite_invalid.
 */
export async function joinByInvite(db: Db, events: EventBus, userId: string, code: string): Promise<MemberView> {
  if (!CODE_FORMAT.test(code)) throw invalidInvite();
  const invite = await db.selectFrom('group_invites').select('group_id').where('code', '=', code).executeTakeFirst();
  if (!invite) throw invalidInvite();
  const groupId = invite.group_id;
  const outcome = await transaction(db, async (trx, ctx) => {
    await lockMembership(trx, groupId, userId);
    const banned = await trx
      .selectFrom('group_bans')
      .select('user_id')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (banned) return fail('banned' as const);
    const inserted = await trx
      .insertInto('group_members')
      .values({ group_id: groupId, user_id: userId })
      .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return 'already' as const;
    const redeemed = await trx
      .updateTable('group_invites')
      .set({ uses: sql<number>`uses + 1` })
      .where('code', '=', code)
      .where('group_id', '=', groupId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
      .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
      .returning('code')
      .executeTakeFirst();
    // Rolls the membership back with it.
    if (!redeemed) return fail('invalid' as const);
    ctx.afterCommit(() => events.publish({ type: 'member.joined', groupId, userId }));
    return 'joined' as const;
  });
  if (!outcome.ok) throw outcome.error === 'banned' ? bannedError() : invalidInvite();
  return memberView(db, groupId, userId);
}

/** MANAGE_GROUP: the group's live invites (expired ones are left out), newest first. */
export async function listInvites(db: Db, userId: string, groupId: string): Promise<InviteView[]> {
  const access = await memberAccess(db, groupId, userId);
  requirePermission(access.permissions, Permission.MANAGE_GROUP);
  const rows = await db
    .selectFrom('group_invites')
    .selectAll()
    .where('group_id', '=', groupId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .orderBy('inserted_at', 'desc')
    .orderBy('code')
    .limit(1000)
    .execute();
  return rows.map((invite) => ({
    invite_code: invite.code,
    group_id: invite.group_id,
    max_uses: invite.max_uses,
    uses: invite.uses,
    expires_at: invite.expires_at?.toISOString() ?? null,
    inserted_at: invite.inserted_at.toISOString(),
  }));
}

/** Revokes an invite: its creator, or MANAGE_GROUP. Revoking the default clears groups.invite_code (FK). */
export async function revokeInvite(db: Db, userId: string, groupId: string, code: string): Promise<void> {
  const access = await memberAccess(db, groupId, userId);
  if (!CODE_FORMAT.test(code)) throw new NotFoundError('invite');
  const invite = await db.selectFrom('group_invites').select(['inviter_id']).where('group_id', '=', groupId).where('code', '=', code).executeTakeFirst();
  if (!invite) throw new NotFoundError('invite');
  if (invite.inviter_id !== userId) requirePermission(access.permissions, Permission.MANAGE_GROUP);
  await db.deleteFrom('group_invites').where('group_id', '=', groupId).where('code', '=', code).execute();
}

/**
 * Deletes the invites that can never be redeemed again: expired, or with every use taken
 * (the scheduled job JOBS.groupInviteSweep). A group's default invite has no limits, so it
 * is never one of them. Returns how many were deleted.
 */
export async function sweepDeadInvites(db: Db): Promise<number> {
  const result = await db
    .deleteFrom('group_invites')
    .where((eb) =>
      eb.or([
        eb('expires_at', '<=', sql<Date>`now()`),
        eb.and([eb('max_uses', 'is not', null), eb('uses', '>=', eb.ref('max_uses'))]),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
