// Changesets, after Ecto: cast untrusted input to typed changes, validate them, declare the
// database constraints that may still reject them, and write them with `persist`, which
// turns a violated declared constraint into a field error instead of a 500. Results are
// values: `{ ok: true, value }` or `{ ok: false, errors }`.
//
// A changeset is immutable: every call returns a new one, so a base changeset can be
// extended in two directions (User.changeset → registrationChangeset) without surprises.
import { ValidationError, type FieldErrors } from '../lib/errors.ts';

export type Result<T> = { ok: true; value: T } | { ok: false; errors: FieldErrors };

export type FieldType = 'string' | 'integer' | 'float' | 'boolean';

type TypeOf<F extends FieldType> = F extends 'string' ? string : F extends 'boolean' ? boolean : number;

/** The changes a `cast` with these field types may produce (null: the field was cleared). */
export type CastValues<S extends Record<string, FieldType>> = { [K in keyof S]: TypeOf<S[K]> | null };

type Fields = Record<string, unknown>;
type StringKeys<T> = Extract<keyof T, string>;

type ConstraintKind = 'unique' | 'foreign_key' | 'check';

interface Constraint {
  kind: ConstraintKind;
  name: string;
  field: string;
  message: string;
}

// PostgreSQL SQLSTATEs for the constraint violations a changeset can declare.
const SQLSTATE: Record<string, ConstraintKind> = {
  '23505': 'unique',
  '23503': 'foreign_key',
  '23514': 'check',
};

interface State<T> {
  data: Partial<T>;
  changes: Partial<T>;
  errors: FieldErrors;
  constraints: Constraint[];
}

export class Changeset<T extends Fields> {
  private constructor(private readonly state: State<T>) {}

  /** An empty changeset over `data`: the row being updated, or {} for an insert. */
  static of<T extends Fields>(data: Partial<T> = {}): Changeset<T> {
    return new Changeset<T>({ data, changes: {}, errors: {}, constraints: [] });
  }

  get data(): Partial<T> {
    return this.state.data;
  }

  /** What would be written: only fields that differ from `data`. */
  get changes(): Partial<T> {
    return this.state.changes;
  }

  get errors(): FieldErrors {
    return this.state.errors;
  }

  get valid(): boolean {
    return Object.keys(this.state.errors).length === 0;
  }

  /**
   * Takes the fields named in `types` from untrusted `attrs` (anything else is ignored),
   * casting each to its type; a value that does not cast is an "is invalid" error. As in
   * Ecto, a blank string means "no value" (null), and a value equal to the current data
   * is not a change.
   */
  cast<S extends Record<string, FieldType>>(attrs: unknown, types: S): Changeset<T & CastValues<S>> {
    const next = this.widen<CastValues<S>>();
    if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs)) {
      return next.addError('_base', 'is invalid');
    }
    const input = attrs as Record<string, unknown>;
    const data: Record<string, unknown> = this.state.data;
    const changes: Record<string, unknown> = { ...this.state.changes };
    const errors: FieldErrors = { ...this.state.errors };
    for (const field of Object.keys(types)) {
      if (!Object.hasOwn(input, field) || input[field] === undefined) continue;
      const cast = castValue(types[field]!, input[field]);
      if (!cast.ok) {
        delete changes[field];
        errors[field] = [...(errors[field] ?? []), 'is invalid'];
      } else if (sameValue(data[field], cast.value)) {
        delete changes[field];
      } else {
        changes[field] = cast.value;
      }
    }
    return next.with({ changes: changes as Partial<T & CastValues<S>>, errors });
  }

  /** The new value of `field` if it changes, else undefined. */
  getChange<K extends StringKeys<T>>(field: K): T[K] | undefined {
    return this.state.changes[field];
  }

  /** The value `field` will have after the change: the change, else the data. */
  getField<K extends StringKeys<T>>(field: K): T[K] | undefined {
    return Object.hasOwn(this.state.changes, field) ? this.state.changes[field] : this.state.data[field];
  }

  putChange<K extends string, V>(field: K, value: V): Changeset<T & Record<K, V>> {
    const next = this.widen<Record<K, V>>();
    const changes: Record<string, unknown> = { ...next.state.changes };
    if (sameValue(next.state.data[field], value)) delete changes[field];
    else changes[field] = value;
    return next.with({ changes: changes as Partial<T & Record<K, V>> });
  }

  /** Drops `field` from the changes (and from the type): e.g. a plain password once hashed. */
  deleteChange<K extends StringKeys<T>>(field: K): Changeset<Omit<T, K>> {
    const { [field]: _dropped, ...changes } = this.state.changes;
    const { [field]: _old, ...data } = this.state.data;
    return new Changeset<Omit<T, K>>({ ...this.state, data, changes });
  }

  addError(field: string, message: string): Changeset<T> {
    const errors = { ...this.state.errors, [field]: [...(this.state.errors[field] ?? []), message] };
    return this.with({ errors });
  }

  /**
   * "can't be blank" for each field that has no value after the change (absent, null or
   * only whitespace), unless the field already has an error, which says more.
   */
  validateRequired(fields: readonly StringKeys<T>[], opts: { message?: string } = {}): Changeset<T> {
    return fields.reduce<Changeset<T>>((acc, field) => {
      const value = this.getField(field);
      const blank =
        value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
      return blank && !this.state.errors[field] ? acc.addError(field, opts.message ?? "can't be blank") : acc;
    }, this);
  }

  /**
   * Runs `validator` on the new value of `field`, when there is one (like Ecto, the
   * validate* helpers check changes, not data already stored). The validator returns the
   * problems it found, if any.
   */
  validateChange<K extends StringKeys<T>>(
    field: K,
    validator: (value: NonNullable<T[K]>) => string | readonly string[] | undefined,
  ): Changeset<T> {
    const value = this.getChange(field);
    if (value === undefined || value === null) return this;
    const found = validator(value);
    const messages = found === undefined ? [] : typeof found === 'string' ? [found] : found;
    return messages.reduce<Changeset<T>>((acc, message) => acc.addError(field, message), this);
  }

  validateFormat(field: StringKeys<T>, pattern: RegExp, opts: { message?: string } = {}): Changeset<T> {
    return this.validateChange(field, (value) =>
      typeof value === 'string' && pattern.test(value) ? undefined : (opts.message ?? 'has invalid format'),
    );
  }

  /**
   * Length in characters (Unicode code points), the unit PostgreSQL's char_length counts,
   * so a value that passes here also passes the table's CHECK (char_length(...) <= n).
   */
  validateLength(
    field: StringKeys<T>,
    opts: { min?: number; max?: number; is?: number; message?: string },
  ): Changeset<T> {
    return this.validateChange(field, (value) => {
      if (typeof value !== 'string') return undefined;
      const length = [...value].length;
      const count =
        opts.is !== undefined && length !== opts.is
          ? { template: 'should be %{count} character(s)', count: opts.is }
          : opts.min !== undefined && length < opts.min
            ? { template: 'should be at least %{count} character(s)', count: opts.min }
            : opts.max !== undefined && length > opts.max
              ? { template: 'should be at most %{count} character(s)', count: opts.max }
              : undefined;
      if (!count) return undefined;
      return (opts.message ?? count.template).replace('%{count}', String(count.count));
    });
  }

  validateInclusion<K extends StringKeys<T>>(
    field: K,
    allowed: readonly NonNullable<T[K]>[],
    opts: { message?: string } = {},
  ): Changeset<T> {
    return this.validateChange(field, (value) =>
      allowed.includes(value) ? undefined : (opts.message ?? 'is invalid'),
    );
  }

  /** The unique index `name` may reject the write: report it as `field` "has already been taken". */
  uniqueConstraint(field: StringKeys<T>, opts: { name: string; message?: string }): Changeset<T> {
    return this.constraint('unique', field, opts.name, opts.message ?? 'has already been taken');
  }

  /** The foreign key `name` may reject the write: the referenced row "does not exist". */
  foreignKeyConstraint(field: StringKeys<T>, opts: { name: string; message?: string }): Changeset<T> {
    return this.constraint('foreign_key', field, opts.name, opts.message ?? 'does not exist');
  }

  /** The CHECK constraint `name` may reject the write: report it on `field`. */
  checkConstraint(field: StringKeys<T>, opts: { name: string; message?: string }): Changeset<T> {
    return this.constraint('check', field, opts.name, opts.message ?? 'is invalid');
  }

  /** Ecto's apply_action: the would-be record when valid, else the errors. */
  apply(): Result<Partial<T>> {
    return this.valid ? { ok: true, value: { ...this.state.data, ...this.state.changes } } : this.failure();
  }

  /** The declared constraint a database error violated, if any. */
  matchConstraint(error: unknown): { field: string; message: string } | undefined {
    if (!(error instanceof Error)) return undefined;
    const { code, constraint } = error as { code?: unknown; constraint?: unknown };
    const kind = typeof code === 'string' ? SQLSTATE[code] : undefined;
    if (!kind || typeof constraint !== 'string') return undefined;
    return this.state.constraints.find((c) => c.kind === kind && c.name === constraint);
  }

  failure(): { ok: false; errors: FieldErrors } {
    return { ok: false, errors: this.state.errors };
  }

  private constraint(kind: ConstraintKind, field: string, name: string, message: string): Changeset<T> {
    return this.with({ constraints: [...this.state.constraints, { kind, name, field, message }] });
  }

  private with(patch: Partial<State<T>>): Changeset<T> {
    return new Changeset<T>({ ...this.state, ...patch });
  }

  // Same state, wider field type: fields a later cast or putChange adds.
  private widen<U extends Fields>(): Changeset<T & U> {
    return this as unknown as Changeset<T & U>;
  }
}

/** Starts a changeset over `data` ({} for an insert) and casts `attrs` into it. */
export function cast<T extends Fields, S extends Record<string, FieldType>>(
  data: Partial<T>,
  attrs: unknown,
  types: S,
): Changeset<T & CastValues<S>> {
  return Changeset.of<T>(data).cast(attrs, types);
}

/**
 * Ecto's Repo.insert/update for a changeset: when it is valid, `write` gets its changes and
 * its result is returned; a violation of a constraint the changeset declared comes back as
 * a field error. Any other error is re-thrown: it is a bug or an outage, not bad input.
 *
 * Inside a transaction a violation aborts the transaction, so the caller must end it (a
 * unit of work does so by failing the step with these errors).
 */
export async function persist<T extends Fields, R>(
  changeset: Changeset<T>,
  write: (changes: Partial<T>) => Promise<R>,
): Promise<Result<R>> {
  if (!changeset.valid) return changeset.failure();
  try {
    return { ok: true, value: await write(changeset.changes) };
  } catch (error) {
    const violated = changeset.matchConstraint(error);
    if (!violated) throw error;
    return { ok: false, errors: { [violated.field]: [violated.message] } };
  }
}

/** The value of a successful result; a failed one becomes a ValidationError (422). */
export function valueOrThrow<T>(result: Result<T>): T {
  if (!result.ok) throw new ValidationError(result.errors);
  return result.value;
}

// Absent data and null are the same "no value": casting a blank field on an insert writes
// nothing, so the column's default still applies.
function sameValue(current: unknown, next: unknown): boolean {
  return Object.is(current ?? null, next ?? null);
}

type Cast = { ok: true; value: unknown } | { ok: false };

function castValue(type: FieldType, raw: unknown): Cast {
  if (raw === null) return { ok: true, value: null };
  switch (type) {
    case 'string':
      if (typeof raw !== 'string') return { ok: false };
      return { ok: true, value: raw.trim() === '' ? null : raw };
    case 'integer':
      if (typeof raw === 'number')
        return Number.isSafeInteger(raw) ? { ok: true, value: raw } : { ok: false };
      if (typeof raw === 'string' && /^\s*[-+]?\d+\s*$/.test(raw)) return castValue(type, Number(raw));
      return typeof raw === 'string' && raw.trim() === '' ? { ok: true, value: null } : { ok: false };
    case 'float':
      if (typeof raw === 'number') return Number.isFinite(raw) ? { ok: true, value: raw } : { ok: false };
      if (typeof raw === 'string' && raw.trim() !== '') return castValue(type, Number(raw));
      return typeof raw === 'string' ? { ok: true, value: null } : { ok: false };
    case 'boolean':
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      if (raw === 'true' || raw === '1') return { ok: true, value: true };
      if (raw === 'false' || raw === '0') return { ok: true, value: false };
      return typeof raw === 'string' && raw.trim() === '' ? { ok: true, value: null } : { ok: false };
  }
}
