// A response body that PostgreSQL rendered as JSON text (json_agg / json_build_object), for
// hot read paths: turning 50 rows into objects, their timestamps into Dates and back into
// strings, checking them against the zod schema and stringifying them again was most of the
// server's CPU time on a history page. The route sends `text` as it is (http/rendered.ts);
// the response schema still documents the shape, and tests hold the SQL rendering to the
// object views it replaces.
export class RenderedJson<T> {
  constructor(
    /** the JSON body */
    readonly text: string,
    /** how many items the page holds (a page of nothing may need a second look: 404 or empty) */
    readonly size: number,
  ) {}

  /** The body as a value, for callers that need it (tests, internal use). */
  parse(): T {
    return JSON.parse(this.text) as T;
  }
}
