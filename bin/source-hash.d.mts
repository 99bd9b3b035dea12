// Types of source-hash.mjs (plain JavaScript: bin/ runs before any TypeScript loader).
export declare const STAMP_FILE: string;
export declare function sourceHash(root: string): string;
export declare function chooseEntry(root: string, env?: Record<string, string | undefined>): { entry: string; compiled: boolean; why: string };
