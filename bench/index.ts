// `npm run bench -- <name>`: runs one benchmark suite and prints its figures.
const suites: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  db: () => import('./db.ts'),
  api: () => import('./api.ts'),
  backup: () => import('./backup.ts'),
  social: () => import('./social.ts'),
  forums: () => import('./forums.ts'),
  messaging: () => import('./messaging.ts'),
  groups: () => import('./groups.ts'),
  gateway: () => import('./gateway.ts'),
};

const name = process.argv[2];
const load = name ? suites[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(suites).join('|')}>`);
  process.exit(2);
}
const suite = await load();
await suite.run();
process.exit(0);
